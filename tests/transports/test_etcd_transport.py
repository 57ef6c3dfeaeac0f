"""The etcd transport against a real single-node etcd (support.etcd): a push is a compare-and-swap
on the key's mod_revision, revert restores the exact previous bytes (or deletes a key that was not
there) under the same compare, another writer is detected and never overwritten, an etcd that is
gone or hangs fails within the connection timeout, a write whose answer is lost at one of several
endpoints is not sent again to the next (its own compare would fail), TLS with a client certificate, and user/password
auth whose password comes from an allowed environment variable only."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.etcd import Etcd
from support.proxy import TcpProxy

from hotswap_cli.errors import ConfigError, TransportError
from hotswap_cli.ops.backends import open_transport
from hotswap_cli.specs import Target, parse_transport
from hotswap_cli.transports.etcd import EtcdTransport

PREVIOUS = b'{"pool": 5,\n  "odd spacing" :  true}\n'  # restored byte for byte, not re-encoded
NEW = b'{"pool": 10}'


def transport(server: Etcd, instance: str = "web-1", *, profile: str = "payment-service.production",
              allowed: frozenset[str] = frozenset(), **raw: Any) -> EtcdTransport:
    spec: dict[str, Any] = {"type": "etcd", "endpoints": [server.endpoint], "timeout": "1s", **raw}
    if server.certs and "ca" not in raw:
        spec.update(ca=str(server.certs.ca), cert=str(server.certs.client_cert),
                    key_file=str(server.certs.client_key))
    opened = open_transport(Target(instance, parse_transport(instance, spec)), allowed_env=allowed,
                            profile=profile)
    assert isinstance(opened, EtcdTransport)
    return opened


def value(server: Etcd, key: str) -> bytes | None:
    client = server.client()
    try:
        kv = client.get(key)
        return kv.value if kv else None
    finally:
        client.close()


def push(t: EtcdTransport, data: bytes) -> None:
    t.stage(data)
    t.check()
    t.swap()
    t.reload()


@pytest.fixture
def seeded(etcd: Etcd) -> Iterator[Etcd]:
    etcd.etcdctl("put", "/config/payment-service.production/web-1", PREVIOUS.decode())
    yield etcd


def test_the_key_template_is_filled_and_a_push_then_revert_restores_the_exact_bytes(seeded: Etcd) -> None:
    t = transport(seeded, key="/config/{service}/{profile}/{instance}")
    assert t.key == "/config/payment-service/payment-service.production/web-1"
    t.close()
    t = transport(seeded)
    key = "/config/payment-service.production/web-1"
    assert t.key == key
    assert t.read_current() == PREVIOUS
    push(t, NEW)
    assert value(seeded, key) == NEW
    assert t.confirm("ignored: the bytes are compared") is True
    t.revert()
    assert value(seeded, key) == PREVIOUS
    t.revert()  # twice is harmless: nothing left to undo
    assert value(seeded, key) == PREVIOUS
    t.close()


def test_a_key_that_did_not_exist_is_deleted_again_on_revert(etcd: Etcd) -> None:
    t = transport(etcd, "web-2")
    assert t.read_current() is None
    push(t, NEW)
    assert value(etcd, t.key) == NEW
    t.revert()
    assert value(etcd, t.key) is None
    t.close()


def test_another_writer_between_read_and_swap_is_detected_and_not_overwritten(seeded: Etcd) -> None:
    t = transport(seeded)
    t.read_current()
    t.stage(NEW)
    seeded.etcdctl("put", t.key, "by hand")
    with pytest.raises(TransportError) as raised:
        t.swap()
    message = str(raised.value)
    assert message.startswith(f"web-1: swap: etcd key {t.key} was changed by another writer since it was read "
                              "(read: mod_revision 2, found: mod_revision 3); nothing was written"), message
    assert value(seeded, t.key) == b"by hand"
    t.revert()  # the swap wrote nothing: revert leaves the other writer's value alone
    assert value(seeded, t.key) == b"by hand"
    t.close()


def test_another_writer_that_creates_an_absent_key_is_detected_at_check(etcd: Etcd) -> None:
    t = transport(etcd, "web-3")
    assert t.read_current() is None
    t.stage(NEW)
    etcd.etcdctl("put", t.key, "registered meanwhile")
    with pytest.raises(TransportError, match=r"web-3: check: etcd key \S+/web-3 was changed by another writer "
                                             r"since it was read \(read: absent, found: mod_revision \d+\)"):
        t.check()
    with pytest.raises(TransportError, match=r"\(read: absent, found: mod_revision \d+\); nothing was written"):
        t.swap()
    assert value(etcd, t.key) == b"registered meanwhile"
    t.close()


def test_a_later_writer_is_never_clobbered_by_a_revert(seeded: Etcd) -> None:
    t = transport(seeded)
    t.read_current()
    push(t, NEW)
    seeded.etcdctl("put", t.key, "newer by hand")
    with pytest.raises(TransportError, match=r"confirm: \S+ does not hold what was written"):
        t.confirm("x")
    with pytest.raises(TransportError) as raised:
        t.revert()
    message = str(raised.value)
    assert message.startswith(f"web-1: revert: etcd key {t.key} was changed by another writer after the push "
                              "(we wrote mod_revision 3, found: mod_revision 4); left as it is"), message
    assert value(seeded, t.key) == b"newer by hand"
    t.close()


def test_a_deleted_key_is_not_recreated_by_a_revert(seeded: Etcd) -> None:
    t = transport(seeded)
    t.read_current()
    push(t, NEW)
    seeded.etcdctl("del", t.key)
    with pytest.raises(TransportError, match=r"found: absent\); left as it is"):
        t.revert()
    assert value(seeded, t.key) is None
    t.close()


def test_etcd_gone_fails_within_the_timeout(seeded: Etcd) -> None:
    t = transport(seeded)
    t.read_current()
    t.stage(NEW)
    seeded.kill()
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"web-1: swap: etcd \S+: no etcd endpoint answered within 1s: "
                                             r"http://127\.0\.0\.1:\d+ unreachable "
                                             r"\(ConnectError: .*refused\)") as raised:
        t.swap()
    assert time.monotonic() - started < 1.5
    assert raised.value.hint == "check that etcd is up and the endpoints are right"
    t.close()


def test_etcd_that_hangs_fails_within_the_timeout_and_an_unanswered_swap_is_checked_on_revert(
        seeded: Etcd) -> None:
    t = transport(seeded)
    t.read_current()
    t.stage(NEW)
    os.kill(seeded.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"within 1s: http://127\.0\.0\.1:\d+ timed out"):
            t.swap()
        assert 0.9 < time.monotonic() - started < 2.0
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"web-1: revert: etcd \S+: no etcd endpoint answered"):
            t.revert()  # it cannot tell whether the swap landed: it says so rather than guess
        assert time.monotonic() - started < 2.0
    finally:
        os.kill(seeded.pid, signal.SIGCONT)
    t.revert()  # etcd is back: the swap never landed (the key is still as read), nothing to undo
    assert value(seeded, t.key) == PREVIOUS
    t.close()


@pytest.fixture
def lossy(seeded: Etcd) -> Iterator[TcpProxy]:
    """A proxy in front of `seeded` that the test can make lose etcd's answers: the first of two
    endpoints, the other being etcd itself."""
    proxy = TcpProxy(int(seeded.endpoint.rsplit(":", 1)[1]))
    yield proxy
    proxy.close()


def test_a_swap_whose_answer_is_lost_at_one_endpoint_is_not_resent_to_the_next_and_revert_undoes_it(
        seeded: Etcd, lossy: TcpProxy) -> None:
    t = transport(seeded, endpoints=[f"http://127.0.0.1:{lossy.port}", seeded.endpoint])
    assert t.read_current() == PREVIOUS
    t.stage(NEW)
    lossy.mute()  # etcd applies the transaction; its answer never comes back
    with pytest.raises(TransportError, match=r"timed out \(ReadTimeout\); not sent to another endpoint: it may "
                                             r"have been applied"):
        t.swap()
    assert value(seeded, t.key) == NEW  # it landed, and was not reported as another writer's change
    t.revert()  # reads through the second endpoint, finds our write and puts the exact bytes back
    assert value(seeded, t.key) == PREVIOUS
    t.close()


def test_a_revert_whose_answer_is_lost_is_checked_not_reported_as_a_failure(seeded: Etcd, lossy: TcpProxy) -> None:
    t = transport(seeded, endpoints=[f"http://127.0.0.1:{lossy.port}", seeded.endpoint])
    push(t, NEW)
    lossy.mute()
    t.revert()  # the put-back lands but its answer is lost; a read at the next endpoint shows it did
    assert value(seeded, t.key) == PREVIOUS
    t.close()


def test_a_write_goes_to_the_next_endpoint_when_the_first_refuses_connections(seeded: Etcd, lossy: TcpProxy) -> None:
    t = transport(seeded, endpoints=[f"http://127.0.0.1:{lossy.port}", seeded.endpoint])
    t.read_current()
    lossy.refuse()  # nothing reached etcd through it: sending the write elsewhere is safe
    push(t, NEW)
    assert value(seeded, t.key) == NEW
    t.close()


def test_tls_with_a_client_certificate(etcd_tls: Etcd) -> None:
    t = transport(etcd_tls)
    assert t.read_current() is None
    push(t, NEW)
    assert t.confirm("x") is True and value(etcd_tls, t.key) == NEW
    t.revert()
    assert value(etcd_tls, t.key) is None
    t.close()
    assert etcd_tls.certs is not None
    no_cert = transport(etcd_tls, ca=str(etcd_tls.certs.ca))  # the server requires a client certificate
    with pytest.raises(TransportError, match=r"web-1: read current config: etcd \S+: no etcd endpoint answered"):
        no_cert.read_current()
    no_cert.close()
    unknown_ca = transport(etcd_tls, cert=str(etcd_tls.certs.client_cert), key_file=str(etcd_tls.certs.client_key),
                           ca=str(etcd_tls.certs.client_cert))  # not the CA that signed the server's cert
    with pytest.raises(TransportError, match="read current config"):
        unknown_ca.read_current()
    unknown_ca.close()


def test_user_and_password_from_an_allowed_variable_only(etcd: Etcd, monkeypatch: pytest.MonkeyPatch) -> None:
    etcd.enable_auth("root", "s3cret-pw")
    monkeypatch.setenv("ETCD_PW", "s3cret-pw")
    t = transport(etcd, user="root", password_env="ETCD_PW", allowed=frozenset({"ETCD_PW"}))
    assert t.read_current() is None
    push(t, NEW)
    assert value(etcd, t.key) == NEW
    t.close()

    with pytest.raises(TransportError) as refused:
        transport(etcd, user="root", password_env="ETCD_PW")
    assert refused.value.reason == ("etcd password_env names ${ETCD_PW}, which is not an allowed environment "
                                    "variable; nothing was written")
    assert refused.value.hint is not None and refused.value.hint.startswith("allow it with HOTSWAP_ALLOW_ENV=ETCD_PW")
    monkeypatch.setenv("HOTSWAP_ETCD_PW", "s3cret-pw")
    with pytest.raises(TransportError, match="not an allowed environment variable"):
        transport(etcd, user="root", password_env="HOTSWAP_ETCD_PW", allowed=frozenset({"HOTSWAP_ETCD_PW"}))
    with pytest.raises(TransportError, match=r"names \$\{ETCD_UNSET\}, which is not set"):
        transport(etcd, user="root", password_env="ETCD_UNSET", allowed=frozenset({"ETCD_UNSET"}))
    monkeypatch.setenv("ETCD_WRONG", "not-the-password")
    wrong = transport(etcd, user="root", password_env="ETCD_WRONG", allowed=frozenset({"ETCD_WRONG"}))
    with pytest.raises(TransportError) as denied:
        wrong.read_current()
    assert "authentication failed" in str(denied.value) and "not-the-password" not in str(denied.value)
    wrong.close()


def test_an_unknown_placeholder_in_the_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"target web-1: etcd key '/config/\{env\}/\{instance\}' uses \{env\}"):
        parse_transport("web-1", {"type": "etcd", "endpoints": ["http://127.0.0.1:2379"],
                                  "key": "/config/{env}/{instance}"})


def test_nothing_connects_until_the_first_step(tmp_path: Path) -> None:
    spec = parse_transport("web-1", {"type": "etcd", "endpoints": ["http://127.0.0.1:9"], "timeout": "0.5s"})
    t = EtcdTransport("web-1", spec, profile="p")
    with pytest.raises(TransportError, match="web-1: read current config: etcd /config/p/web-1: no etcd endpoint"):
        t.read_current()
    t.close()
