"""`hotswap deploy` to etcd keys end to end, against a real single-node etcd (support.etcd): the
keys hold the rendered bytes and the ledger says completed; `status` and `diff live:` read the
keys; a failed canary puts back the exact previous bytes and deletes keys it created; another
writer between read and swap is detected, named and left alone while the others are reverted; an
etcd that hangs mid-deploy ends the run within its timeout, reported; TLS with a client
certificate; user/password auth from an allowed variable, refused before anything is written
when the variable is not allowed.

Hooks that act at the right moment are command probes (`sh -c`): a probe runs at the baseline
(after the key was read, before the swap) and during the bake (after the swap)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploy_fleet import WORKER_CONFIG, Fleet
from support.etcd import Etcd

from hotswap_cli import formats
from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo

NAMES = ("web-1", "web-2", "web-3")
PREVIOUS = b'{"hand written": true,\n   "spacing":  "kept"}\n'  # restored byte for byte
NEW_QUEUE = {**WORKER_CONFIG["queue"], "name": "orders-v2"}  # "orders-v2": what a hook greps for
OK = [{"type": "command", "command": ["true"]}]


def key(name: str) -> str:
    return f"/config/web/{name}"


def etcd_target(server: Etcd, name: str, probes: list[dict[str, Any]] | None = None,
                **extra: Any) -> dict[str, Any]:
    transport = {"type": "etcd", "endpoints": [server.endpoint], "key": "/config/{service}/{instance}",
                 "timeout": "1s", **extra}
    if server.certs:
        transport.update(ca=str(server.certs.ca), cert=str(server.certs.client_cert),
                         key_file=str(server.certs.client_key))
    return {"name": name, "transport": transport, "health": probes or OK}


def hook(server: Etcd, script: str) -> list[dict[str, Any]]:
    """A command probe running `script` with $CTL an etcdctl for `server`; it always passes."""
    ctl = f"etcdctl --endpoints={server.endpoint} --dial-timeout=1s --command-timeout=2s"
    return [{"type": "command", "command": ["sh", "-c", f"CTL='{ctl}'; {script}; exit 0"], "timeout": "5s"}]


def held(server: Etcd) -> dict[str, bytes | None]:
    client = server.client()
    try:
        found = {name: client.get(key(name)) for name in NAMES}
    finally:
        client.close()
    return {name: kv.value if kv else None for name, kv in found.items()}


def rendered(fleet: Fleet) -> bytes:
    config = json.loads((fleet.root / "profiles" / fleet.profile / "config.json").read_text())
    return formats.encode(config, "json")


def deploy(cli: Callable[..., Any], fleet: Fleet, *args: str, env: dict[str, str] | None = None) -> Any:
    return cli("--repo", str(fleet.root), "deploy", fleet.profile, *args, "--yes", env=env)


def test_deploy_writes_every_key_and_status_and_diff_live_read_them(
        etcd: Etcd, make_fleet: Callable[..., Fleet], cli: Callable[..., Any]) -> None:
    etcd.etcdctl("put", key("web-1"), PREVIOUS.decode())
    fleet = make_fleet([etcd_target(etcd, n) for n in NAMES], environment="Development",
                       strategy={"type": "direct", "bake": "0.1s"})
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code == 0, result
    assert held(etcd) == {n: rendered(fleet) for n in NAMES}
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert (record["status"], record["version"]) == ("completed", "1.0.0")

    status = cli("--repo", str(fleet.root), "status", fleet.profile, "--json")
    assert status.exit_code == 0, status
    rows = json.loads(status.stdout)["instances"]
    assert [(r["instance"], r["running"], r["drifted"]) for r in rows] == [(n, "1.0.0", False) for n in NAMES]
    same = cli("--repo", str(fleet.root), "diff", fleet.profile, "live:web-2", "1.0.0", "--exit-code")
    assert same.exit_code == 0, same

    etcd.etcdctl("put", key("web-2"), json.dumps({**WORKER_CONFIG, "concurrency": 64}))  # by hand
    changed = cli("--repo", str(fleet.root), "diff", fleet.profile, "live:web-2", "1.0.0", "--exit-code")
    assert changed.exit_code == 1, changed
    assert "$.concurrency" in changed.stdout
    drift = cli("--repo", str(fleet.root), "status", fleet.profile, "--json")
    assert drift.exit_code == 1, drift
    rows = {r["instance"]: r for r in json.loads(drift.stdout)["instances"]}
    assert rows["web-2"]["drifted"] is True and rows["web-1"]["running"] == "1.0.0"


def test_canary_failure_puts_back_the_exact_bytes_and_deletes_the_keys_it_created(
        etcd: Etcd, make_fleet: Callable[..., Fleet], cli: Callable[..., Any]) -> None:
    etcd.etcdctl("put", key("web-1"), PREVIOUS.decode())
    etcd.etcdctl("put", key("web-3"), "web-3 as it was")
    # web-2 fails its health check once its key holds the new version
    failing = [{"type": "command", "command": ["sh", "-c", f"! etcdctl --endpoints={etcd.endpoint} get "
                                               f"{key('web-2')} --print-value-only | grep -q orders-v2"]}]
    fleet = make_fleet([etcd_target(etcd, "web-1"), etcd_target(etcd, "web-2", failing), etcd_target(etcd, "web-3")],
                       strategy={"type": "canary", "steps": [60, 100], "bake": "1s"})
    fleet.set_config(queue=NEW_QUEUE)
    fleet.release(cli, "1.0.0")
    before = held(etcd)
    assert before["web-2"] is None

    result = deploy(cli, fleet)
    assert result.exit_code == 6, result
    assert "health gate failed after phase 1" in result.stderr and "web-2" in result.stderr
    assert held(etcd) == before  # web-1 byte for byte, web-2 deleted again, web-3 never touched
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert record["status"] == "reverted"
    assert {i["instance"]: (i["touched"], i["state"]) for i in record["instances"]
            if i["instance"] != "web-3"} == {"web-1": (True, "reverted"), "web-2": (True, "reverted")}
    assert [i["touched"] for i in record["instances"] if i["instance"] == "web-3"] == [False]


def test_another_writer_between_read_and_swap_is_named_left_alone_and_the_others_reverted(
        etcd: Etcd, make_fleet: Callable[..., Fleet], cli: Callable[..., Any], tmp_path: Path) -> None:
    flag = tmp_path / "wrote"
    # web-2's baseline probe runs after its key was read and before the swap: another writer strikes then
    writer = hook(etcd, f"test -e {flag} || {{ $CTL put {key('web-2')} 'by hand' && touch {flag}; }}")
    etcd.etcdctl("put", key("web-1"), PREVIOUS.decode())
    fleet = make_fleet([etcd_target(etcd, "web-1"), etcd_target(etcd, "web-2", writer), etcd_target(etcd, "web-3")],
                       environment="Development", strategy={"type": "direct", "bake": "0.3s"})
    fleet.release(cli, "1.0.0")

    result = deploy(cli, fleet)
    assert result.exit_code == 6, result
    assert flag.exists()
    assert f"web-2: failed (check: etcd key {key('web-2')} was changed by another writer since it was " \
           "read (read: absent, found: mod_revision " in result.stderr, result.stderr
    assert "deploy failed on web-2 (error above)" in result.stderr
    assert held(etcd) == {"web-1": PREVIOUS, "web-2": b"by hand", "web-3": None}
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert record["status"] == "reverted"
    assert "changed by another writer" in record["reason"]


def test_etcd_that_hangs_mid_deploy_ends_the_run_within_its_timeout_and_is_reported(
        etcd: Etcd, make_fleet: Callable[..., Fleet], cli: Callable[..., Any], tmp_path: Path) -> None:
    flag = tmp_path / "frozen"
    # once web-1 holds the new version (phase 1's bake), etcd stops answering (SIGSTOP: connections
    # stay open, nothing answers), before phase 2 reads web-2 and web-3
    freezer = hook(etcd, f"test -e {flag} && exit 0; $CTL get {key('web-1')} --print-value-only | grep -q orders-v2 "
                         f"&& touch {flag} && kill -STOP {etcd.pid}")
    fleet = make_fleet([etcd_target(etcd, "web-1", freezer), etcd_target(etcd, "web-2"), etcd_target(etcd, "web-3")],
                       strategy={"type": "canary", "steps": [33, 100], "bake": "0.5s"})
    fleet.set_config(queue=NEW_QUEUE)
    fleet.release(cli, "1.0.0")
    try:
        started = time.monotonic()
        result = deploy(cli, fleet)
        elapsed = time.monotonic() - started
        assert flag.exists()
    finally:
        etcd.thaw()
    assert elapsed < 8, elapsed  # 1 s per etcd call, not a hang
    assert result.exit_code == 7, result
    text = " ".join(result.stderr.split())
    assert "no etcd endpoint answered within 1s" in text and "timed out" in text, result.stderr
    assert "could not restore: web-1" in text, result.stderr
    # web-1 is reported as not restored: unknown to the run. A frozen etcd holds the revert's
    # request in its socket and may apply it once thawed, so either value is what "unknown" means;
    # the others were never touched
    now = held(etcd)
    assert now["web-1"] in (rendered(fleet), None) and (now["web-2"], now["web-3"]) == (None, None), now
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert record["status"] == "revert_failed"


def test_tls_with_a_client_certificate(etcd_tls: Etcd, make_fleet: Callable[..., Fleet],
                                       cli: Callable[..., Any]) -> None:
    fleet = make_fleet([etcd_target(etcd_tls, n) for n in NAMES], environment="Development",
                       strategy={"type": "direct", "bake": "0.1s"})
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code == 0, result
    assert held(etcd_tls) == {n: rendered(fleet) for n in NAMES}


def test_auth_from_an_allowed_variable_and_refused_before_anything_is_written_otherwise(
        etcd: Etcd, make_fleet: Callable[..., Fleet], cli: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTSWAP_ALLOW_ENV", raising=False)
    etcd.enable_auth("root", "s3cret-pw")
    fleet = make_fleet([etcd_target(etcd, n, user="root", password_env="ETCD_PW") for n in NAMES],
                       environment="Development", strategy={"type": "direct", "bake": "0.1s"})
    fleet.release(cli, "1.0.0")

    refused = deploy(cli, fleet, env={"ETCD_PW": "s3cret-pw"})
    assert refused.exit_code != 0, refused
    assert "target web-1: etcd credentials name ${ETCD_PW}, which is not an allowed environment variable" \
           in refused.stderr, refused.stderr
    assert "s3cret-pw" not in refused.stderr + refused.stdout
    assert held(etcd) == {n: None for n in NAMES}

    unset = deploy(cli, fleet, env={"HOTSWAP_ALLOW_ENV": "ETCD_PW"})
    assert unset.exit_code != 0 and "${ETCD_PW}, which is not set" in unset.stderr, unset
    assert held(etcd) == {n: None for n in NAMES}

    allowed = deploy(cli, fleet, env={"HOTSWAP_ALLOW_ENV": "ETCD_PW", "ETCD_PW": "s3cret-pw"})
    assert allowed.exit_code == 0, allowed
    assert held(etcd) == {n: rendered(fleet) for n in NAMES}


def test_blue_green_stops_before_any_switch_when_one_key_was_changed_by_another_writer(
        etcd: Etcd, make_fleet: Callable[..., Fleet], cli: Callable[..., Any], tmp_path: Path) -> None:
    """The blue-green decision (no pointer key): every instance is staged and checked before any
    swap, and check reads the key again, so one changed key means no instance switches."""
    flag = tmp_path / "wrote"
    writer = hook(etcd, f"test -e {flag} || {{ $CTL put {key('web-3')} 'by hand' && touch {flag}; }}")
    for name in NAMES:
        etcd.etcdctl("put", key(name), f"{name} as it was")
    # min_checks 1: a baseline look counts, so it is taken, and the writer runs between the read and the check
    fleet = make_fleet([etcd_target(etcd, "web-1"), etcd_target(etcd, "web-2"), etcd_target(etcd, "web-3", writer)],
                       strategy={"type": "blue-green", "bake": "0.1s"}, health={"interval": "0.1s", "min_checks": 1})
    fleet.release(cli, "1.0.0")
    client = etcd.client()
    try:
        revisions = {n: client.get(key(n)) for n in ("web-1", "web-2")}
        result = deploy(cli, fleet)
        assert result.exit_code == 6, result
        assert f"web-3: failed (check: etcd key {key('web-3')} was changed by another writer" in result.stderr
        assert "stage failed on web-3 (error above)" in result.stderr
        assert held(etcd) == {"web-1": b"web-1 as it was", "web-2": b"web-2 as it was", "web-3": b"by hand"}
        # not even written and put back: web-1 and web-2 were never switched (same mod_revision)
        assert {n: client.get(key(n)) for n in ("web-1", "web-2")} == revisions
    finally:
        client.close()
