"""Secrets: ENC[...] at rest, `secret set` from stdin, validate's checks, and no output ever shows one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.example import OTHER_KEY, PROD_SECRET, PROFILE, TEMPLATE_SECRET, commit, edit

from hotswap_cli.core.config.secretfile import parse_jsonpath
from hotswap_cli.core.secrets.crypto import (
    DEMO_SECRET_KEY,
    decrypt_config,
    decrypt_value,
    encrypt_value,
    fingerprint,
    is_well_formed,
    mask_config,
    parse_key,
)
from hotswap_cli.errors import SecretError, UsageError

KEY = parse_key(DEMO_SECRET_KEY)
SCHEMA = {"type": "object", "properties": {
    "db": {"type": "object", "properties": {"password": {"type": "string", "x-hotswap-secret": True}}},
    "users": {"type": "array", "items": {"type": "object", "properties": {
        "token": {"$ref": "#/$defs/secret"}}}},
    "vault": {"type": "object", "additionalProperties": {"type": "string", "x-hotswap-secret": True}},
}, "$defs": {"secret": {"type": "string", "x-hotswap-secret": True}}}


def test_encrypt_decrypt_mask_and_fingerprint() -> None:
    where = ("profiles/p/config.yaml", ("db", "password"))
    token = encrypt_value("s3cret-value", KEY, *where)
    assert is_well_formed(token) and token.startswith("ENC[v2:") and "s3cret" not in token
    assert token != encrypt_value("s3cret-value", KEY, *where)  # a fresh nonce each time
    assert decrypt_value(token, KEY, *where) == "s3cret-value"
    with pytest.raises(SecretError, match="cannot decrypt \\$.db.password: wrong key") as exc:
        decrypt_value(token, parse_key(OTHER_KEY), *where)
    assert "s3cret" not in str(exc.value)
    for elsewhere in [("profiles/q/config.yaml", ("db", "password")), ("profiles/p/config.yaml", ("db", "user"))]:
        with pytest.raises(SecretError, match="encrypted for another place"):
            decrypt_value(token, KEY, *elsewhere)  # a copy to another file or path does not decrypt
    data = {"db": {"password": token}, "users": [{"token": "plain-a"}, {"name": "x"}], "vault": {"k": "v-secret"}}
    masked = mask_config(data, SCHEMA)
    assert masked["db"]["password"] == "*** " + fingerprint(token)
    assert masked["users"][0]["token"].startswith("*** sha256:") and masked["users"][1] == {"name": "x"}
    assert masked["vault"]["k"].startswith("*** ")
    assert data["db"]["password"] == token  # input untouched
    assert mask_config(data, SCHEMA, key=KEY)["users"][0]["token"].startswith("*** hmac:")
    assert decrypt_config(data, SCHEMA, lambda _p: where[0], KEY)["db"]["password"] == "s3cret-value"


@pytest.mark.parametrize("text", ["nothex", "ab" * 31, "A" * 10])
def test_bad_key_is_a_clear_error_without_the_key(text: str) -> None:
    with pytest.raises(SecretError, match="must be 32 bytes") as exc:
        parse_key(text)
    assert text not in str(exc.value)


def test_jsonpath_parsing() -> None:
    assert parse_jsonpath("$.payments.apiKey") == ("payments", "apiKey")
    assert parse_jsonpath("payments.apiKey") == ("payments", "apiKey")
    assert parse_jsonpath("$.users[2]['odd key']") == ("users", 2, "odd key")
    with pytest.raises(UsageError):
        parse_jsonpath("$..x")


def test_secret_set_reads_stdin_and_keeps_the_file_layout(config_repo: Path, hs: Callable, demo_key: str) -> None:
    config = config_repo / f"profiles/{PROFILE}/config.yaml"
    edit(config, "payments:\n", "payments:  # the PSP\n")
    result = hs("secret", "set", PROFILE, "$.payments.apiKey", input="new-live-key-123\n")
    assert result.exit_code == 0, result
    assert "encrypted $.payments.apiKey into profiles/payment-service.production/config.yaml" in result.stderr
    text = config.read_text()
    assert "new-live-key-123" not in text and "payments:  # the PSP\n" in text
    token = yaml.safe_load(text)["payments"]["apiKey"]
    assert decrypt_value(token, KEY, f"profiles/{PROFILE}/config.yaml", ("payments", "apiKey")) == "new-live-key-123"
    assert hs("validate").exit_code == 0
    revealed = hs("show", PROFILE, "worktree", "--reveal", "--format", "json")
    assert json.loads(revealed.stdout)["payments"]["apiKey"] == "new-live-key-123"


def test_secret_set_can_add_the_field_to_a_profile_that_inherits_it(config_repo: Path, hs: Callable,
                                                                   demo_key: str) -> None:
    config = config_repo / "profiles/payment-service.staging/config.yaml"
    result = hs("secret", "set", "payment-service.staging", "payments.apiKey", input="staging-key-999")
    assert result.exit_code == 0, result
    token = yaml.safe_load(config.read_text())["payments"]["apiKey"]
    assert decrypt_value(token, KEY, "profiles/payment-service.staging/config.yaml",
                         ("payments", "apiKey")) == "staging-key-999"


@pytest.mark.parametrize(("env", "path", "message"), [
    ({"HOTSWAP_SECRET_KEY": OTHER_KEY}, "$.payments.apiKey", "wrong key, or a value encrypted for"),
    ({}, "$.payments.apiKey", "no secret key: set HOTSWAP_SECRET_KEY, HOTSWAP_SECRET_KEY_FILE or HOTSWAP_SECRET_KEY_C"),
    ({"HOTSWAP_SECRET_KEY": DEMO_SECRET_KEY}, "$.database.host", "$.database.host is not a secret field"),
    ({"HOTSWAP_SECRET_KEY": "short"}, "$.payments.apiKey", "HOTSWAP_SECRET_KEY is not a usable key"),
])
def test_secret_set_refusals_write_nothing(config_repo: Path, hs: Callable, env: dict[str, str], path: str,
                                           message: str) -> None:
    config = config_repo / f"profiles/{PROFILE}/config.yaml"
    before = config.read_bytes()
    result = hs("secret", "set", PROFILE, path, input="would-be-secret-77\n", env=env)
    assert result.exit_code == 1, result
    assert message in result.stderr
    assert "would-be-secret-77" not in result.stdout + result.stderr
    assert config.read_bytes() == before


def test_secret_value_is_never_taken_from_argv(hs: Callable, demo_key: str) -> None:
    result = hs("secret", "set", PROFILE, "$.payments.apiKey", "argv-secret-value")
    assert result.exit_code == 2
    assert "argv-secret-value" not in result.stderr  # click names the extra argument: it must not


def test_key_file(config_repo: Path, hs: Callable, tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_text(DEMO_SECRET_KEY + "\n")
    result = hs("show", PROFILE, "HEAD", "--reveal", "--format", "json", env={"HOTSWAP_SECRET_KEY_FILE": str(keyfile)})
    assert json.loads(result.stdout)["payments"]["apiKey"] == PROD_SECRET
    no_key = hs("show", PROFILE, "HEAD", "--reveal")
    assert no_key.exit_code == 1 and "no secret key" in no_key.stderr and no_key.stdout == ""
    wrong = hs("show", PROFILE, "HEAD", "--reveal", env={"HOTSWAP_SECRET_KEY": OTHER_KEY})
    assert wrong.exit_code == 1 and "cannot decrypt $.payments.apiKey: wrong key" in wrong.stderr


def test_validate_fails_on_plaintext_naming_file_and_path_not_value(config_repo: Path, hs: Callable) -> None:
    edit(config_repo / "templates/payment-service.yaml", "apiKey: ENC[", "apiKey: leaked-plaintext-42 #ENC[")
    result = hs("validate")
    assert result.exit_code == 3
    assert "templates/payment-service.yaml:23:3  $.payments.apiKey  secret field holds plaintext: encrypt it " \
           "with `hotswap secret set payment-service.development '$.payments.apiKey'`" in result.stdout
    as_json = hs("validate", "--json")
    assert as_json.exit_code == 3
    for out in (result, as_json):
        assert "leaked-plaintext-42" not in out.stdout + out.stderr


def test_validate_checks_the_envelope_without_key_and_the_value_with_it(config_repo: Path, hs: Callable) -> None:
    config = config_repo / f"profiles/{PROFILE}/config.yaml"
    good = yaml.safe_load(config.read_text())["payments"]["apiKey"]
    config.write_text(config.read_text().replace(good, "ENC[v1:not*base64]"))
    malformed = hs("validate", PROFILE)
    assert malformed.exit_code == 3 and "malformed ENC[...]" in malformed.stdout
    short = encrypt_value("short", KEY, f"profiles/{PROFILE}/config.yaml", ("payments", "apiKey"))
    config.write_text(config.read_text().replace("ENC[v1:not*base64]", short))
    assert hs("validate", PROFILE).exit_code == 0  # without the key, a well-formed ciphertext passes
    with_key = hs("validate", PROFILE, env={"HOTSWAP_SECRET_KEY": DEMO_SECRET_KEY})
    assert with_key.exit_code == 3
    assert "$.payments.apiKey  secret value fails the schema (minLength; not shown: it holds a secret)" \
        in with_key.stdout
    assert "short" not in with_key.stdout + with_key.stderr
    wrong = hs("validate", PROFILE, env={"HOTSWAP_SECRET_KEY": OTHER_KEY})
    assert wrong.exit_code == 3 and "cannot decrypt this secret: wrong key" in wrong.stdout


def test_no_command_prints_a_secret(config_repo: Path, hs: Callable, demo_key: str) -> None:
    """Every command, with the key available, over a history in which the secret changed."""
    assert hs("release", PROFILE, "1.0.0", "-m", "first").exit_code == 0
    outputs = [hs("secret", "set", PROFILE, "$.payments.apiKey", input="rotated-live-key-555\n")]
    commit(config_repo, "rotate the live key")
    outputs.append(hs("release", PROFILE, "1.1.0", "--json"))
    edit(config_repo / "templates/payment-service.yaml", "apiKey: ENC[", "apiKey: leaked-plaintext-42 #ENC[")
    commands = [
        ("render", PROFILE), ("render", PROFILE, "--format", "json"), ("render", "payment-service.staging"),
        ("validate",), ("validate", "--json"), ("profiles",), ("versions", PROFILE), ("versions", PROFILE, "--json"),
        ("show", PROFILE, "1.0.0"), ("show", PROFILE, "1.1.0", "--format", "json"), ("show", PROFILE, "worktree"),
        ("history", PROFILE), ("history", PROFILE, "--json"), ("history", "payment-service.staging", "--json"),
        ("diff", PROFILE, "1.0.0", "1.1.0"), ("diff", PROFILE, "1.0.0", "1.1.0", "--json"),
        ("diff", PROFILE, "1.0.0", "1.1.0", "--format", "unified"), ("diff", "payment-service.staging", "HEAD"),
        ("diff", "payment-service.staging", "HEAD", "--json"), ("release", "payment-service.staging", "1.0.0"),
    ]
    outputs += [hs(*c) for c in commands]
    outputs.append(hs("show", PROFILE, "1.0.0", "--reveal", env={"HOTSWAP_SECRET_KEY": OTHER_KEY}))
    for result in outputs:
        text = result.stdout + result.stderr
        for value in (PROD_SECRET, TEMPLATE_SECRET, "rotated-live-key-555", "leaked-plaintext-42"):
            assert value not in text, (value, result)
    diff = json.loads(outputs[commands.index(("diff", PROFILE, "1.0.0", "1.1.0", "--json")) + 2].stdout)
    (change,) = diff["changed"]
    assert change["path"] == "$.payments.apiKey" and change["old"] != change["new"]
    assert change["old"].startswith("*** ")
    # the positive control: --reveal with the right key does show it
    assert PROD_SECRET in hs("show", PROFILE, "1.0.0", "--reveal").stdout


EDITS = [
    ("scalar line kept, comment kept", "config.yaml", "a:\n  key: old  # note\nb: 1\n", ("a", "key"),
     "a:\n  key: ENC[v1:x]  # note\nb: 1\n", True),
    ("missing parent created", "config.yaml", "# top comment\nb: 1\n", ("a", "key"), "b: 1\na:\n  key: ENC[v1:x]\n",
     False),
    ("json file", "config.json", '{"a": {"key": "old"}}', ("a", "key"), '{\n  "a": {\n    "key": "ENC[v1:x]"\n  }\n}\n',
     True),
    ("list item", "config.yaml", "l:\n  - key: old\n", ("l", 0, "key"), "l:\n  - key: ENC[v1:x]\n", True),
]


@pytest.mark.parametrize(("name", "file", "text", "path", "expected", "kept"), EDITS, ids=[e[0] for e in EDITS])
def test_edit_config_text(name: str, file: str, text: str, path: tuple[str | int, ...], expected: str,
                          kept: bool) -> None:
    from hotswap_cli.core.config.secretfile import edit_config_text

    assert edit_config_text(text, file, path, "ENC[v1:x]") == (expected, kept)
