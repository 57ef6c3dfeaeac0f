"""The ssh config: which file is read, how its settings merge under profile.yaml's, and a push to a
Host alias on the real sshd. (Jump hosts, ProxyCommand and certificates: test_ssh_jump.py and
test_ssh_certs.py; sudo: test_ssh_become.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hotswap_cli.errors import TransportError
from hotswap_cli.io.ssh_config import describe, parse_hop, resolve
from hotswap_cli.ops.backends import open_transport
from hotswap_cli.specs import SshSpec, parse_transport, target


def spec(**raw: Any) -> SshSpec:
    found = parse_transport("web-1", {"type": "ssh", "path": "/etc/app.json", **raw})
    assert isinstance(found, SshSpec)
    return found


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ssh_config"
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", str(path))
    return path


def test_an_alias_takes_hostname_port_user_key_and_known_hosts_from_the_config(config: Path) -> None:
    config.write_text("Host edge-*\n  HostName 10.1.2.3\n  Port 2222\n  User deploy\n"
                      "  IdentityFile ~/.ssh/deploy_ed25519\n  UserKnownHostsFile ~/.ssh/fleet_hosts /etc/fleet\n"
                      "  ConnectTimeout 3\n")
    route = resolve("web-1", spec(host="edge-alias"))
    t = route.target
    home = str(Path("~").expanduser())
    assert (t.host, t.port, t.user, t.connect_timeout) == ("10.1.2.3", 2222, "deploy", 3.0)
    assert t.keys == (f"{home}/.ssh/deploy_ed25519",) and not t.identities_only
    assert t.known_hosts == (f"{home}/.ssh/fleet_hosts", "/etc/fleet")
    assert route.origins["port"] == ("2222", f"ssh config {config}")
    assert route.jumps == () and route.proxy_command is None


def test_profile_values_win_over_the_config_and_say_so(config: Path) -> None:
    config.write_text("Host edge-alias\n  HostName 10.1.2.3\n  Port 2222\n  User deploy\n  IdentityFile /k\n")
    route = resolve("web-1", spec(host="edge-alias", port=22, user="ops", key="/mine", timeout="4s"))
    t = route.target
    assert (t.host, t.port, t.user, t.keys, t.identities_only) == ("10.1.2.3", 22, "ops", ("/mine",), True)
    assert route.origins["user"] == ("ops", "profile")
    assert route.origins["host"] == ("10.1.2.3", f"ssh config {config}")
    shown = describe("web-1", spec(host="edge-alias", become=True))
    assert shown["route"] == "deploy@10.1.2.3:2222"
    assert shown["settings"]["become"] == {"value": "sudo -u root", "from": "profile"}  # type: ignore[index]
    assert shown["settings"]["port"] == {"value": "2222", "from": f"ssh config {config}"}  # type: ignore[index]


def test_which_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host a\n  Port 1001\n")
    named = tmp_path / "named"
    named.write_text("Host a\n  Port 1002\n")
    other = tmp_path / "other"
    other.write_text("Host a\n  Port 1003\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HOTSWAP_SSH_CONFIG")
    assert resolve("i", spec(host="a")).target.port == 1001  # ~/.ssh/config
    assert resolve("i", spec(host="a", ssh_config=str(named))).target.port == 1002  # the target's
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", str(other))
    assert resolve("i", spec(host="a", ssh_config=str(named))).target.port == 1003  # the operator's
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", "none")
    assert resolve("i", spec(host="a")).target.port == 22
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", str(tmp_path / "missing"))
    with pytest.raises(TransportError, match=r"ssh config .*missing: No such file"):
        resolve("i", spec(host="a"))


def test_include_is_followed(config: Path, tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "fleet.conf").write_text("Host inner\n  HostName 10.9.9.9\n")
    config.write_text(f"Include {tmp_path}/conf.d/*.conf\nHost *\n  User deploy\n")
    t = resolve("i", spec(host="inner")).target
    assert (t.host, t.user) == ("10.9.9.9", "deploy")


@pytest.mark.parametrize("value", ["no", "off"])
def test_strict_host_key_checking_no_is_refused_with_the_file_named(config: Path, value: str) -> None:
    config.write_text(f"Host *\n  StrictHostKeyChecking {value}\n")
    with pytest.raises(TransportError) as caught:
        resolve("web-1", spec(host="edge"))
    assert f"ssh config {config}: `StrictHostKeyChecking {value}` applies to edge" in caught.value.reason
    assert "ssh-keyscan" in (caught.value.hint or "")


def test_accept_new_still_refuses_unknown_keys_and_the_plan_says_so(config: Path) -> None:
    config.write_text("Host *\n  StrictHostKeyChecking accept-new\n")
    route = resolve("web-1", spec(host="edge"))
    assert "unknown keys still refused" in route.origins["host keys"][0]


def test_proxyjump_hops_are_looked_up_recursively_and_jump_overrides(config: Path) -> None:
    config.write_text("Host inner\n  HostName 10.0.0.9\n  ProxyJump mid\n"
                      "Host mid\n  HostName 10.0.0.5\n  User hop\n  ProxyJump edge-bastion:2200\n"
                      "Host edge-bastion\n  HostName 192.0.2.1\n  IdentityFile /bastion_key\n")
    route = resolve("i", spec(host="inner", key="/k", known_hosts="/kh"))
    assert [(h.alias, h.host, h.port, h.user) for h in route.jumps][0][:3] == ("edge-bastion", "192.0.2.1", 2200)
    assert [(h.alias, h.host, h.user) for h in route.jumps][1] == ("mid", "10.0.0.5", "hop")
    assert route.jumps[0].keys == ("/bastion_key",)  # its own IdentityFile
    assert route.jumps[1].keys == ("/k",) and route.jumps[1].known_hosts == ("/kh",)  # else the target's
    assert describe("i", spec(host="inner"))["route"].endswith("via " + " -> ".join(  # type: ignore[union-attr]
        h.where for h in route.jumps))
    overridden = resolve("i", spec(host="inner", jump=["ops@10.7.7.7:2022"]))
    assert [(h.user, h.host, h.port) for h in overridden.jumps] == [("ops", "10.7.7.7", 2022)]
    assert overridden.origins["jump"] == ("ops@10.7.7.7:2022", "profile")


def test_a_jump_loop_is_an_error_not_a_hang(config: Path) -> None:
    config.write_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(TransportError, match="jump hosts loop"):
        resolve("i", spec(host="a"))


def test_proxycommand_tokens_are_expanded(config: Path) -> None:
    config.write_text("Host p\n  HostName 10.3.3.3\n  Port 2201\n  ProxyCommand ssh -W %h:%p gateway\n")
    assert resolve("i", spec(host="p")).proxy_command == "ssh -W 10.3.3.3:2201 gateway"


def test_hop_syntax() -> None:
    assert parse_hop("ssh://ops@host:2200") == ("ops", "host", 2200)
    assert parse_hop("host") == (None, "host", None)
    assert parse_hop("u@[::1]:22") == ("u", "::1", 22)
    with pytest.raises(ValueError):
        parse_hop("ops@")


def test_a_push_to_a_host_alias_on_the_real_sshd(sshd: Any, ssh_workdir: Path, config: Path) -> None:
    config.write_text(f"Host edge-alias\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n"
                      f"  IdentityFile {sshd.user_key}\n  UserKnownHostsFile {sshd.known_hosts}\n")
    live = ssh_workdir / "app.json"
    live.write_text('{"a": 1}\n')
    transport = open_transport(target("edge-1", {"type": "ssh", "host": "edge-alias", "path": str(live)}))
    try:
        assert transport.read_current() == b'{"a": 1}\n'
        transport.stage(b'{"a": 2}\n')
        transport.swap()
        assert live.read_bytes() == b'{"a": 2}\n'
        transport.revert()
        assert live.read_bytes() == b'{"a": 1}\n'
    finally:
        transport.close()


def test_without_the_config_an_alias_fails_before_anything_changes_and_says_why(
        ssh_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", "none")
    transport = open_transport(target("edge-1", {"type": "ssh", "host": "edge-alias.invalid",
                                                 "path": str(ssh_workdir / "app.json"), "retries": 0}))
    with pytest.raises(TransportError) as caught:
        transport.read_current()
    transport.close()
    assert "cannot resolve host edge-alias.invalid" in caught.value.reason
    assert "--ssh-config" in (caught.value.hint or "")


def test_the_profile_schema_takes_the_new_keys_and_refuses_a_relative_ssh_config() -> None:
    import json

    import jsonschema

    from hotswap_cli import DATA_DIR

    schema = json.loads((DATA_DIR / "profile.schema.json").read_text())
    ssh = schema["properties"]["targets"]["items"]["properties"]["transport"]["allOf"][1]["then"]

    def errors(**raw: Any) -> list[str]:
        doc = {"type": "ssh", "host": "edge-1", "path": "/etc/nginx/nginx.conf", **raw}
        return [e.message for e in jsonschema.Draft202012Validator(ssh).iter_errors(doc)]

    assert errors(jump="deploy@bastion:2222,inner", become=True, become_user="www-data",
                  become_password_env="SUDO_PW", ssh_config="~/.ssh/fleet.conf") == []
    assert errors(jump=["bastion", "ssh://ops@10.0.0.1:22"]) == []
    assert errors(ssh_config="fleet.conf")  # relative to what? refused
    assert errors(jump="a b")  # not a hop
    assert errors(become_password_env="NOT-A-NAME")
