"""Secret fields: find them from the schema, encrypt/decrypt (AES-256-GCM) and mask them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotswap_cli import redact
from hotswap_cli.errors import SecretError
from hotswap_cli.model import JsonPath, format_path

SECRET_MARKER = "x-hotswap-secret"
KEY_MARKER = "x-hotswap-key"
KEY_ENV = "HOTSWAP_SECRET_KEY"
KEY_FILE_ENV = "HOTSWAP_SECRET_KEY_FILE"
KEY_COMMAND_ENV = "HOTSWAP_SECRET_KEY_COMMAND"
KEY_COMMAND_TIMEOUT = 30.0
MASK = "***"
# For `hotswap demo` and the tests ONLY: it is public, so anything encrypted with it is not secret.
DEMO_SECRET_KEY = "6b1f0d5c3a2e4f8091a7b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4"

_ENC_RE = re.compile(r"^ENC\[(v1|v2):([A-Za-z0-9+/=_-]*)\]$")
_AAD_V1 = b"hotswap-secret:v1"  # the same everywhere: a v1 value decrypts wherever it is copied
_NONCE = 12
_TAG = 16


class _Any:
    """A pattern part that matches any key or index."""

    def __repr__(self) -> str:
        return "*"


ANY = _Any()
Pattern = tuple[Any, ...]


@dataclass
class PathTrie:
    """Schema locations (with wildcards) holding a marker, walked alongside the data."""

    children: dict[Any, PathTrie] = field(default_factory=dict)
    wildcard: PathTrie | None = None
    value: Any = None

    def add(self, pattern: Pattern, value: Any) -> None:
        node = self
        for part in pattern:
            if part is ANY:
                node.wildcard = node.wildcard or PathTrie()
                node = node.wildcard
            else:
                node = node.children.setdefault(part, PathTrie())
        node.value = value

    def step(self, part: Any) -> list[PathTrie]:
        out = [self.wildcard] if self.wildcard is not None else []
        exact = self.children.get(part) if isinstance(part, str | int) else None
        return out + [exact] if exact is not None else out


def step_all(nodes: list[PathTrie], part: Any) -> list[PathTrie]:
    return [child for node in nodes for child in node.step(part)]


def marked_value(nodes: list[PathTrie]) -> Any:
    return next((n.value for n in nodes if n.value is not None), None)


def schema_markers(schema: Any, marker: str) -> PathTrie:
    """Every place in `schema` whose node carries `marker` (local $refs followed)."""
    trie = PathTrie()
    if isinstance(schema, dict):
        _walk(schema, schema, (), marker, trie, ())
    return trie


def _resolve(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for token in ref[2:].split("/") if ref.startswith("#/") else ():
        token = token.replace("~1", "/").replace("~0", "~")
        node = node.get(token) if isinstance(node, dict) else None
    return node if ref.startswith("#/") else None


def _walk(root: dict[str, Any], node: Any, prefix: Pattern, marker: str, trie: PathTrie,
          refs: tuple[str, ...]) -> None:
    if not isinstance(node, dict) or len(prefix) > 64:
        return
    if node.get(marker) not in (None, False):
        trie.add(prefix, node[marker])
    ref = node.get("$ref")
    if isinstance(ref, str) and ref not in refs:
        _walk(root, _resolve(root, ref), prefix, marker, trie, (*refs, ref))
    for key, sub in (node.get("properties") or {}).items():
        _walk(root, sub, (*prefix, key), marker, trie, refs)
    for sub in (node.get("patternProperties") or {}).values():
        _walk(root, sub, (*prefix, ANY), marker, trie, refs)
    for name in ("additionalProperties", "items", "additionalItems", "contains"):
        _walk(root, node.get(name), (*prefix, ANY), marker, trie, refs)
    for i, sub in enumerate(node.get("prefixItems") or ()):
        _walk(root, sub, (*prefix, i), marker, trie, refs)
    for name in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(name) or ():
            _walk(root, sub, prefix, marker, trie, refs)
    for name in ("if", "then", "else"):
        _walk(root, node.get(name), prefix, marker, trie, refs)


_TRIES: dict[str, PathTrie] = {}


def secret_trie(*schemas: Any) -> PathTrie:
    """Secret locations of one or more schemas (cached by their content)."""
    key = json.dumps(schemas, sort_keys=True, default=str)
    if key not in _TRIES:
        trie = PathTrie()
        for schema in schemas:
            merge_trie(trie, schema_markers(schema, SECRET_MARKER))
        if len(_TRIES) > 64:
            _TRIES.clear()
        _TRIES[key] = trie
    return _TRIES[key]


def merge_trie(into: PathTrie, other: PathTrie) -> None:
    """Add `other`'s locations to `into` (the first value found wins)."""
    into.value = into.value if into.value is not None else other.value
    if other.wildcard is not None:
        into.wildcard = into.wildcard or PathTrie()
        merge_trie(into.wildcard, other.wildcard)
    for k, child in other.children.items():
        merge_trie(into.children.setdefault(k, PathTrie()), child)


def secret_values(data: Any, schema: Any) -> Iterator[tuple[JsonPath, Any]]:
    """(path, value) of every secret field present in `data`."""
    yield from _find(data, [secret_trie(schema)], ())


def _find(data: Any, nodes: list[PathTrie], path: JsonPath) -> Iterator[tuple[JsonPath, Any]]:
    if marked_value(nodes) is not None:
        yield path, data
        return
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        sub = step_all(nodes, key)
        if sub:
            yield from _find(value, sub, (*path, key))


def is_secret_path(path: JsonPath, trie: PathTrie) -> bool:
    """True when `path` is a secret field or lies inside one."""
    nodes = _walk_to(path, trie)
    return nodes is True or (isinstance(nodes, list) and marked_value(nodes) is not None)


def touches_secret(path: JsonPath, trie: PathTrie) -> bool:
    """True when `path` is, contains or lies inside a secret field (its value may show one)."""
    nodes = _walk_to(path, trie)
    return nodes is True or bool(nodes)  # nodes left: a secret lies at or below path


def _walk_to(path: JsonPath, trie: PathTrie) -> list[PathTrie] | bool:
    """The trie nodes at `path`; True when a secret field lies on the way, [] when none can."""
    nodes = [trie]
    for part in path:
        if marked_value(nodes) is not None:
            return True
        nodes = step_all(nodes, part)
        if not nodes:
            return []
    return nodes


# -- the key -----------------------------------------------------------------------------------


def parse_key(text: str, source: str = KEY_ENV) -> bytes:
    """32 bytes from 64 hex digits or base64; never echoes the text."""
    text = text.strip()
    try:
        if re.fullmatch(r"[0-9a-fA-F]{64}", text):
            return bytes.fromhex(text)
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text
                               else None, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise SecretError(f"{source} is not a usable key: it must be 32 bytes, as 64 hex digits or base64",
                          hint="make one with: python -c 'import secrets; print(secrets.token_hex(32))'")
    redact.register([text, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode("ascii"),
                     base64.urlsafe_b64encode(raw).decode("ascii")])
    return raw


def load_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key from HOTSWAP_SECRET_KEY, the file named by HOTSWAP_SECRET_KEY_FILE, or the stdout of
    HOTSWAP_SECRET_KEY_COMMAND (run once per process, never written anywhere); None if none is set."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return parse_key(env[KEY_ENV])
    if env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV]).expanduser()
        try:
            return parse_key(path.read_text(), f"{KEY_FILE_ENV} ({path})")
        except OSError as exc:
            raise SecretError(f"cannot read the key file {path}: {exc.strerror}") from None
    if env.get(KEY_COMMAND_ENV):
        return key_from_command(env[KEY_COMMAND_ENV], KEY_COMMAND_ENV)
    return None


_COMMAND_KEYS: dict[str, bytes] = {}


def key_from_command(command: str, source: str) -> bytes:
    """A key printed by a command (a Vault, cloud KMS or password-manager CLI), run once per
    process without a shell and without hotswap's own key variables; its output is never shown."""
    import shlex
    import subprocess

    from hotswap_cli.io.process import command_environment

    if command not in _COMMAND_KEYS:
        argv = shlex.split(command)
        if not argv:
            raise SecretError(f"{source} is empty")
        env = command_environment()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=KEY_COMMAND_TIMEOUT,
                                  stdin=subprocess.DEVNULL, env=env)
        except FileNotFoundError:
            raise SecretError(f"{source}: command not found: {argv[0]}",
                              hint="give the full path, or put it on PATH") from None
        except subprocess.TimeoutExpired:
            raise SecretError(f"{source}: the key command did not answer within {KEY_COMMAND_TIMEOUT:g}s") from None
        except OSError as exc:
            raise SecretError(f"{source}: the key command could not run: {exc.strerror}") from None
        if proc.returncode != 0:
            why = proc.stderr.strip().splitlines()[-1][:200] if proc.stderr.strip() else "no message"
            raise SecretError(f"{source}: the key command failed (exit {proc.returncode}): {why}")
        _COMMAND_KEYS[command] = parse_key(proc.stdout, f"{source}'s output")
    return _COMMAND_KEYS[command]


def require_key(environ: Mapping[str, str] | None = None) -> bytes:
    key = load_key(environ)
    if key is None:
        raise SecretError(f"no secret key: set {KEY_ENV}, {KEY_FILE_ENV} or {KEY_COMMAND_ENV}",
                          hint="the key is never stored in the config repo")
    return key


# -- values ------------------------------------------------------------------------------------


def is_encrypted(value: Any) -> bool:
    """Looks like ENC[...] (maybe malformed): a value meant to be a ciphertext."""
    return isinstance(value, str) and value.startswith("ENC[") and value.endswith("]")


def is_well_formed(value: Any) -> bool:
    m = _ENC_RE.match(value) if isinstance(value, str) else None
    if not m:
        return False
    try:
        return len(base64.b64decode(m.group(2), validate=True)) >= _NONCE + _TAG + 1
    except (binascii.Error, ValueError):
        return False


def token_version(value: Any) -> str | None:
    """"v1" or "v2" for a well-formed ENC[...] value, else None."""
    m = _ENC_RE.match(value) if isinstance(value, str) and is_well_formed(value) else None
    return m.group(1) if m else None


def _aad(file: str, path: JsonPath) -> bytes:
    """What a v2 value is bound to: the repo file that defines it and its JSONPath there. A copy
    anywhere else (another profile, another key) fails to decrypt."""
    return b"hotswap-secret:v2\0" + file.encode("utf-8") + b"\0" + format_path(path).encode("utf-8")


def encrypt_value(value: Any, key: bytes, file: str, path: JsonPath) -> str:
    """ENC[v2:base64(nonce | AES-256-GCM(json(value)) | tag)], bound to `file` and `path`."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    redact.register(value)
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(value, ensure_ascii=False).encode("utf-8"), _aad(file, path))
    return f"ENC[v2:{base64.b64encode(nonce + sealed).decode('ascii')}]"


def decrypt_value(token: str, key: bytes, file: str, path: JsonPath, where: str | None = None) -> Any:
    """The plaintext of a value defined at `path` in `file` (v1 values are bound to nothing)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    where = where or format_path(path)
    if not is_well_formed(token):
        raise SecretError(f"{where}: not a well-formed ENC[v2:...] value")
    m = _ENC_RE.match(token)
    assert m is not None
    raw = base64.b64decode(m.group(2))
    aad = _AAD_V1 if m.group(1) == "v1" else _aad(file, path)
    try:
        value = json.loads(AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad).decode("utf-8"))
    except (InvalidTag, ValueError):
        raise SecretError(f"cannot decrypt {where}: wrong key, or a value encrypted for another place "
                          f"(not {file} {format_path(path)}), or corrupted",
                          hint=f"check the key ({KEY_ENV}, {KEY_FILE_ENV} or {KEY_COMMAND_ENV}); a copied "
                               "secret must be set again with `hotswap secret set`") from None
    redact.register(value)  # from here on, no output of this process shows it
    return value


def fingerprint(value: Any, key: bytes | None = None) -> str:
    """8 hex that change when the value changes: sha256 of an ENC text (no key needed),
    HMAC-SHA256 under the key of a plaintext, else a domain-separated sha256."""
    if isinstance(value, str) and is_encrypted(value):
        return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]
    raw = json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")
    if key is not None:
        return "hmac:" + hmac.new(key, raw, hashlib.sha256).hexdigest()[:8]
    return "sha256:" + hashlib.sha256(b"hotswap-fingerprint\0" + raw).hexdigest()[:8]


def masked(value: Any, key: bytes | None = None) -> str:
    return f"{MASK} {fingerprint(value, key)}"


# -- whole configs -----------------------------------------------------------------------------


def _replace(data: Any, nodes: list[PathTrie], path: JsonPath, fn: Any) -> Any:
    """`data` with each secret value v replaced by fn(path, v); unchanged parts are shared."""
    if marked_value(nodes) is not None:
        return fn(path, data)
    if isinstance(data, dict):
        out = None
        for k, v in data.items():
            sub = step_all(nodes, k)
            if sub:
                new = _replace(v, sub, (*path, k), fn)
                if new is not v:
                    out = out if out is not None else dict(data)
                    out[k] = new
        return data if out is None else out
    if isinstance(data, list):
        items = [_replace(v, sub, (*path, i), fn) if (sub := step_all(nodes, i)) else v for i, v in enumerate(data)]
        return data if all(a is b for a, b in zip(items, data, strict=True)) else items
    return data


def mask_config(data: Any, *schemas: Any, key: bytes | None = None) -> Any:
    """A copy of `data` with every secret field (of any of `schemas`) shown as `*** <fingerprint>`."""
    return _replace(data, [secret_trie(*schemas)], (), lambda _p, v: masked(v, key))


Origin = Callable[[JsonPath], str]  # the repo file that defines the value at a path


def decrypt_found(data: Any, found: Iterable[tuple[JsonPath, Any]], key: bytes, origin: Origin,
                  label: str | None = None) -> tuple[Any, list[tuple[JsonPath, SecretError]]]:
    """`data` with each ENC[...] value of `found` (path, value) decrypted in memory, and the ones
    that would not decrypt. The one decryption step: deploys need all, validation reports each."""
    failures = []
    for path, value in found:
        if not is_encrypted(value):
            continue
        try:
            data = set_in(data, path, decrypt_value(value, key, origin(path), path, label))
        except SecretError as exc:
            failures.append((path, exc))
    return data, failures


def decrypt_config(data: Any, schema: Any, origin: Origin, key: bytes | None = None) -> Any:
    """`data` with every ENC[...] secret decrypted (in memory only); plaintext left as is.
    The key defaults to the environment's; SecretError when missing or wrong (no value shown)."""
    found = list(secret_values(data, schema))
    if not any(is_encrypted(v) for _, v in found):
        return data
    data, failures = decrypt_found(data, found, key if key is not None else require_key(), origin)
    if failures:
        raise failures[0][1]
    return data


def legacy_paths(data: Any, schema: Any) -> list[JsonPath]:
    """Secret fields still holding a v1 value (bound to nothing: see `hotswap secret rotate`)."""
    return [p for p, v in secret_values(data, schema) if token_version(v) == "v1"]


def secret_problems(data: Any, schema: Any, profile: str = "PROFILE") -> list[tuple[JsonPath, str]]:
    """Secret fields holding plaintext or a malformed ENC[...]: (path, value-free message)."""
    problems = []
    for path, value in secret_values(data, schema):
        if not is_encrypted(value):
            problems.append((path, "secret field holds plaintext: encrypt it with "
                                   f"`hotswap secret set {profile} '{format_path(path)}'`"))
        elif not is_well_formed(value):
            problems.append((path, "secret field holds a malformed ENC[...] value: "
                                   "write it with `hotswap secret set`"))
    return problems


# -- writing a secret into a profile's config file ---------------------------------------------


def set_in(data: Any, path: JsonPath, value: Any) -> Any:
    """A copy of `data` with `value` at `path` (maps created on the way); KeyError/IndexError if not."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        if not isinstance(data, list) or head >= len(data):
            raise IndexError(head)
        return [set_in(v, rest, value) if i == head else v for i, v in enumerate(data)]
    base = data if isinstance(data, dict) else {}
    return {**base, head: set_in(base.get(head), rest, value)}
