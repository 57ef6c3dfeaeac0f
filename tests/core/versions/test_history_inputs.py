"""history walks only the commits that touch the profile's inputs, as they were at each commit,
and renders each distinct input tree once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.example import PROFILE, commit, edit

from hotswap_cli.core.versions import history
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.core.versions.history import iter_history, profile_history


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The profile names rendered (history's own seam: one call per input tree it had to render)."""
    seen: list[str] = []
    real = history.render_state

    def counting(repo: Any, profile: str) -> Any:
        seen.append(profile)
        return real(repo, profile)

    monkeypatch.setattr(history, "render_state", counting)
    return seen


def test_identical_input_trees_render_once(config_repo: Path, renders: list[str]) -> None:
    config = config_repo / f"profiles/{PROFILE}/config.yaml"
    edit(config, "max: 80", "max: 90")
    raised = commit(config_repo, "pool 90")
    edit(config, "max: 90", "max: 80")
    back = commit(config_repo, "pool back to 80")  # the same input tree as the initial commit
    edit(config_repo / "templates/gateway.yaml", "burst: 100", "burst: 150")
    commit(config_repo, "gateway only")

    entries = profile_history(GitRepo(config_repo), PROFILE)
    assert [(e.commit, e.changed) for e in entries[:2]] == [(back, ("$.database.pool.max",)),
                                                            (raised, ("$.database.pool.max",))]
    assert [e.message for e in entries] == ["pool back to 80", "pool 90", "initial config"]
    assert len(renders) == 2  # HEAD (= "pool back to 80" = the initial commit's inputs) and "pool 90"


def test_a_template_counts_from_the_commit_that_extends_it(config_repo: Path, renders: list[str]) -> None:
    extra = config_repo / "templates/payments-extra.yaml"
    extra.write_text("rateLimits:\n  extra: 1\n")
    commit(config_repo, "extra template, not extended yet")
    extra.write_text("rateLimits:\n  extra: 2\n")
    commit(config_repo, "extra template: 2, still not extended")
    edit(config_repo / f"profiles/{PROFILE}/profile.yaml", "extends: [payment-service]",
         "extends: [payment-service, payments-extra]")
    extends = commit(config_repo, "prod extends payments-extra")
    extra.write_text("rateLimits:\n  extra: 3\n")
    changed = commit(config_repo, "extra template: 3")
    edit(config_repo / "templates/gateway.yaml", "burst: 100", "burst: 150")
    commit(config_repo, "gateway only")

    entries = profile_history(GitRepo(config_repo), PROFILE)
    assert [(e.commit, e.changed) for e in entries] == [
        (changed, ("$.rateLimits.extra",)), (extends, ("$.rateLimits.extra",)),
        (entries[-1].commit, entries[-1].changed)]
    assert entries[-1].note == "created"
    assert len(renders) == 3  # extra 3, extra 2 (extended), and the initial tree: nothing else


def test_every_name_a_template_could_have_is_an_input(config_repo: Path) -> None:
    # templates/nope.yaml wins over nope.yml while both exist; HEAD reads only nope.yml, yet the
    # commit that removed nope.yaml changed the render
    (config_repo / "templates/nope.yml").write_text("rateLimits:\n  extra: 1\n")
    (config_repo / "templates/nope.yaml").write_text("rateLimits:\n  extra: 2\n")
    edit(config_repo / f"profiles/{PROFILE}/profile.yaml", "extends: [payment-service]",
         "extends: [payment-service, nope]")
    extends = commit(config_repo, "extends nope")
    (config_repo / "templates/nope.yaml").unlink()
    dropped = commit(config_repo, "drop nope.yaml")
    edit(config_repo / "templates/gateway.yaml", "burst: 100", "burst: 150")
    commit(config_repo, "gateway only")
    entries = profile_history(GitRepo(config_repo), PROFILE)
    assert [(e.commit, e.changed) for e in entries[:2]] == [(dropped, ("$.rateLimits.extra",)),
                                                            (extends, ("$.rateLimits.extra",))]


def test_hotswap_yaml_is_an_input(config_repo: Path) -> None:
    edit(config_repo / "hotswap.yaml", "  Production:\n", "  Prod:\n")
    dropped = commit(config_repo, "rename the Production environment")
    entries = profile_history(GitRepo(config_repo), PROFILE)
    assert entries[0].commit == dropped and entries[0].note.startswith("not renderable")


def test_stopping_early_ends_the_walk(config_repo: Path, renders: list[str], hs: Callable) -> None:
    config = config_repo / f"profiles/{PROFILE}/config.yaml"
    for n in range(81, 86):
        edit(config, f"max: {n - 1}", f"max: {n}")
        commit(config_repo, f"pool {n}")
    walk = iter_history(GitRepo(config_repo), PROFILE)
    first = next(walk)
    walk.close()
    assert first.message == "pool 85" and len(renders) == 2  # HEAD and its parent, not the 4 older trees
