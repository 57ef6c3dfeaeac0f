"""`hotswap history --limit N / --all`: a page for people, everything for scripts unless they ask."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.example import PROFILE, commit, edit


@pytest.fixture
def pools(config_repo: Path) -> list[str]:
    """25 commits that each change the pool size: 26 history entries with the initial one."""
    config = config_repo / f"profiles/{PROFILE}/config.yaml"
    shas = []
    for n in range(81, 106):
        edit(config, f"max: {n - 1}", f"max: {n}")
        shas.append(commit(config_repo, f"pool {n}"))
    return shas[::-1]


def _heads(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines() if line and not line.startswith(" ")]


def test_text_shows_a_page_and_says_how_to_see_more(pools: list[str], hs: Callable) -> None:
    page = hs("history", PROFILE)
    assert page.exit_code == 0
    assert _heads(page.stdout) == [sha[:12] for sha in pools[:20]]
    assert page.stderr == "(the newest 20; older ones: --limit N or --all)\n"
    three = hs("history", PROFILE, "--limit", "3")
    assert _heads(three.stdout) == [sha[:12] for sha in pools[:3]]
    assert three.stdout.splitlines()[1:3] == ["    pool 105", "    changed: $.database.pool.max"]
    everything = hs("history", PROFILE, "--all")
    assert len(_heads(everything.stdout)) == 26 and everything.stderr == ""
    assert everything.stdout.splitlines()[-3:-1] == ["    initial config", "    [created]"]


def test_json_is_the_whole_history_unless_limited(pools: list[str], hs: Callable) -> None:
    whole = json.loads(hs("history", PROFILE, "--json").stdout)
    assert [e["commit"] for e in whole[:25]] == pools and whole[-1]["note"] == "created"
    two = json.loads(hs("history", PROFILE, "--json", "--limit", "2").stdout)
    assert two == whole[:2]


def test_limit_and_all_are_one_choice(config_repo: Path, hs: Callable) -> None:
    both = hs("history", PROFILE, "--limit", "5", "--all")
    assert both.exit_code == 2 and "--limit and --all: give one of them" in both.stderr
    zero = hs("history", PROFILE, "--limit", "0")
    assert zero.exit_code == 2 and "--limit" in zero.stderr


def test_an_unknown_profile_is_still_an_error(config_repo: Path, hs: Callable) -> None:
    result = hs("history", "payment-service.prod")
    assert result.exit_code == 2 and "did you mean payment-service.production" in result.stderr
