"""One contract for every transport (local, ssh, http), each against a real demo service instance."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from support.instances import INITIAL, Case

from hotswap_cli.errors import TransportError
from hotswap_cli.model import config_hash
from hotswap_cli.ops.backends import open_transport


def push(transport, data: bytes) -> None:  # type: ignore[no-untyped-def]
    transport.read_current()
    transport.stage(data)
    transport.check()
    transport.swap()
    transport.reload()


def payload(**simulate: object) -> tuple[bytes, str]:
    config = {"service": "demo", "version": 2, "simulate": {"latencyMs": 1, **simulate}}
    return (json.dumps(config, indent=2) + "\n").encode(), config_hash(config)


def test_push_then_read_back_and_confirm(case: Case) -> None:
    data, digest = payload()
    transport = open_transport(case.make())
    try:
        assert transport.read_current() == INITIAL
        push(transport, data)
        assert transport.confirm(digest) is True
    finally:
        transport.close()
    assert case.live() == data
    fresh = open_transport(case.make())
    try:
        assert fresh.read_current() == data
    finally:
        fresh.close()


def test_confirm_reports_a_different_running_config(case: Case) -> None:
    transport = open_transport(case.make())
    try:
        transport.read_current()
        assert transport.confirm("0" * 64) is False
    finally:
        transport.close()


def test_push_is_idempotent(case: Case) -> None:
    data, digest = payload()
    for _ in range(2):
        transport = open_transport(case.make())
        try:
            push(transport, data)
            assert transport.confirm(digest) is True
        finally:
            transport.close()
        assert case.live() == data


def test_revert_restores_exact_previous_bytes(case: Case) -> None:
    data, _ = payload()
    transport = open_transport(case.make())
    try:
        push(transport, data)
        assert case.live() == data
        transport.revert()
        assert case.live() == INITIAL
        assert transport.confirm(config_hash(json.loads(INITIAL))) is True
    finally:
        transport.close()


def test_revert_ignores_a_tampered_kept_copy(case: Case) -> None:
    """The file transports keep the previous file beside the live one; if someone changes that copy
    while the new config runs, revert still puts back the bytes read before the push."""
    if case.kind == "http":
        return  # the endpoint keeps no copy: revert always sends the remembered bytes
    data, _ = payload()
    transport = open_transport(case.make())
    try:
        push(transport, data)
        kept = Path(case.instance.config_path + ".hotswap-prev")
        assert kept.read_bytes() == INITIAL
        kept.write_bytes(b'{"tampered": true}\n')
        transport.revert()
        assert case.live() == INITIAL
    finally:
        transport.close()


def test_swap_is_atomic_for_readers(case: Case) -> None:
    big = [payload(pad="x" * 300_000)[0], payload(pad="y" * 200_000)[0]]
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(case.live())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(6):
            transport = open_transport(case.make())
            try:
                push(transport, big[i % 2])
            finally:
                transport.close()
    finally:
        stop.set()
        reader.join()
    assert seen <= {INITIAL, *big}, f"a reader saw {len(seen - {INITIAL, *big})} partial file(s)"
    assert len(seen) >= 2


@pytest.mark.parametrize("case", ["local", "ssh"], indirect=True)  # http: the server validates on PUT
def test_failing_check_leaves_instance_untouched(case: Case) -> None:
    data, _ = payload(rejectCheck=True)
    transport = open_transport(case.make(check=True))
    try:
        transport.read_current()
        transport.stage(data)
        with pytest.raises(TransportError, match="check: failed"):
            transport.check()
        transport.discard()
    finally:
        transport.close()
    assert case.live() == INITIAL
    directory = Path(case.instance.config_path).parent
    assert sorted(p.name for p in directory.iterdir()) == ["config.json"]


def test_failing_reload_is_reverted(case: Case) -> None:
    data, _ = payload(rejectReload=True)
    transport = open_transport(case.make(reload=True))
    try:
        with pytest.raises(TransportError) as failure:
            push(transport, data)
        assert "rejectReload" in str(failure.value) or "reload: failed" in str(failure.value)
        transport.revert()
        assert case.live() == INITIAL
    finally:
        transport.close()


@pytest.mark.parametrize("case", ["local", "ssh"], indirect=True)  # http: the endpoint keeps no copy
def test_a_kept_copy_that_is_the_live_file_leaves_no_temp_file(case: Case) -> None:
    """A run killed after keeping the previous file and before its swap leaves `.hotswap-prev` as a
    second link to the live file. The next push links the live file again and renames that link
    over the kept copy: rename(2) of two links to one file succeeds and does nothing, so without
    care the link stays behind as a temp file (the fault matrix's kill -9 rows caught it)."""
    live = Path(case.instance.config_path)
    kept = Path(f"{live}.hotswap-prev")
    kept.unlink(missing_ok=True)
    kept.hardlink_to(live)
    data, _ = payload()
    transport = open_transport(case.make())
    try:
        push(transport, data)
    finally:
        transport.close()
    assert case.live() == data and kept.read_bytes() == INITIAL
    assert sorted(p.name for p in live.parent.iterdir()) == ["config.json", "config.json.hotswap-prev"]
