"""`hotswap secret set` and `secret rotate`: parse the JSONPath a user names, write an encrypted
value into a profile's config file changing only that line where it can, and re-encrypt every
value in the repo under a new key (or bound to where it stands: v1 -> v2)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotswap_cli.core.config.profile import load_profile, read_profile
from hotswap_cli.core.secrets.crypto import (
    SECRET_MARKER,
    decrypt_value,
    encrypt_value,
    is_well_formed,
    marked_value,
    secret_trie,
    secret_values,
    set_in,
    step_all,
    token_version,
)
from hotswap_cli.errors import ConfigError, SecretError
from hotswap_cli.io.files import write_atomic
from hotswap_cli.model import JsonPath, format_path

_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]")


def parse_jsonpath(text: str) -> JsonPath:
    """`$.payments.apiKey`, `payments.apiKey`, `$.routes[0]['a b']` -> a path tuple."""
    from hotswap_cli.errors import UsageError

    rest = text[1:] if text.startswith("$") else "." + text if text[:1] not in (".", "[") else text
    parts: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _PATH_TOKEN.match(rest, pos)
        if not m:
            raise UsageError("not a JSONPath (write e.g. '$.payments.apiKey')")
        name, index, single, double = m.groups()
        parts.append(int(index) if index is not None else name or single or double or "")
        pos = m.end()
    if not parts:
        raise UsageError("not a JSONPath (write e.g. '$.payments.apiKey')")
    return tuple(parts)


def is_secret_field(path: JsonPath, schema: Any) -> bool:
    nodes = [secret_trie(schema)]
    for part in path:
        nodes = step_all(nodes, part)
    return marked_value(nodes) is not None


def edit_config_text(text: str, file: str, path: JsonPath, token: str) -> tuple[str, bool]:
    """The file's text with `token` at `path`, and whether its comments and layout were kept
    (a one-line edit when the key already holds a scalar; else the file is rewritten)."""
    from hotswap_cli.core.config.yamlsrc import dump_yaml, parse_document

    doc = parse_document(text, file)
    expected = set_in(doc.data or {}, path, token)
    if file.endswith(".json"):
        return json.dumps(expected, indent=2, ensure_ascii=False) + "\n", True
    loc = doc.locations.get(path)
    if loc is not None and loc.line and isinstance(path[-1], str):
        lines = text.splitlines(keepends=True)
        line = lines[loc.line - 1]
        m = re.match(r"^(\s*(?:-\s+)?[^:#]+?:[ \t]*)([^#\n]*?)([ \t]+#.*)?(\r?\n)?$", line)
        if m:
            lines[loc.line - 1] = m.group(1) + token + (m.group(3) or "") + (m.group(4) or "")
            candidate = "".join(lines)
            try:
                if parse_document(candidate, file).data == expected:
                    return candidate, True
            except ConfigError:
                pass
    return dump_yaml(expected), False


def write_secret(root: Path, profile: str, path: JsonPath, value: Any, key: bytes) -> tuple[str, bool]:
    """Encrypt `value` into the profile's own config file. Refuses (writing nothing) when the field
    is not secret or when `key` does not decrypt the profile's existing secrets."""
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.core.config.render import render_profile

    repo = ConfigRepo.open(root)
    loaded = load_profile(repo, profile)
    schema, schema_file = repo.load_schema(loaded.schema)
    if not is_secret_field(path, schema):
        raise ConfigError(f"{format_path(path)} is not a secret field of {loaded.schema}",
                          hint=f'mark it "{SECRET_MARKER}": true in {schema_file}')
    rendered = render_profile(repo, loaded)
    for where, existing in secret_values(rendered.data, schema):
        if is_well_formed(existing):
            try:
                decrypt_value(existing, key, rendered.locate(where).file, where)
            except SecretError as exc:
                raise SecretError(f"{exc.message}: this key did not encrypt {profile}'s secrets; "
                                  "nothing written") from None
    src = read_profile(repo, profile)
    raw = repo.source.read(src.config_file)
    text = raw.decode("utf-8") if raw is not None else ""
    try:
        new_text, kept = edit_config_text(text, src.config_file, path,
                                          encrypt_value(value, key, src.config_file, path))
    except (IndexError, KeyError):
        raise ConfigError(f"{format_path(path)}: no such list item in {src.config_file}") from None
    write_atomic(root / src.config_file, new_text.encode("utf-8"))
    return src.config_file, kept


@dataclass(frozen=True)
class Rotated:
    """One value `secret rotate` re-encrypted (never the value itself)."""

    file: str
    path: JsonPath
    was: str  # "v1" or "v2"
    rekeyed: bool  # under a new key, not only re-bound

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "path": format_path(self.path), "from": self.was, "to": "v2",
                "new_key": self.rekeyed}


def rotate_secrets(root: Path, old_key: bytes, new_key: bytes, *, write: bool = True) -> list[Rotated]:
    """Re-encrypt every ENC[...] value of the repo's templates and profile configs as v2 under
    `new_key`, bound to its file and path. Every value is decrypted before any file is written; a
    value that will not decrypt stops the rotation with nothing written. Values already v2 under
    `new_key` are left alone, so an interrupted rotation is finished by running it again."""
    from hotswap_cli.core.config.configrepo import DATA_EXTENSIONS, ConfigRepo

    repo = ConfigRepo.open(root)
    files = [f"templates/{n}" for n in sorted(repo.listdir("templates")) if n.endswith(DATA_EXTENSIONS)]
    files += [read_profile(repo, name).config_file for name in repo.profile_names()]
    done: list[Rotated] = []
    edits: dict[str, str] = {}
    for file in files:
        doc = repo.document(file)
        if doc is None:
            continue
        text = (repo.source.read(file) or b"").decode("utf-8")
        for path, token in _encrypted(doc.data, ()):
            where = f"{file} {format_path(path)}"
            version = token_version(token)
            if version is None:
                raise SecretError(f"{where}: a malformed ENC[...] value; nothing was rotated",
                                  hint="set it again with `hotswap secret set`")
            if version == "v2" and _opens(token, new_key, file, path):
                continue
            try:
                value = decrypt_value(token, old_key, file, path, where)
            except SecretError as exc:
                raise SecretError(f"{exc.message}; nothing was rotated", hint=exc.hint) from None
            text, _ = edit_config_text(text, file, path, encrypt_value(value, new_key, file, path))
            done.append(Rotated(file, path, version, new_key != old_key))
        if any(r.file == file for r in done):
            edits[file] = text
    if write:
        for file, text in edits.items():
            write_atomic(root / file, text.encode("utf-8"))
    return done


def _opens(token: str, key: bytes, file: str, path: JsonPath) -> bool:
    try:
        decrypt_value(token, key, file, path)
    except SecretError:
        return False
    return True


def _encrypted(data: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    """(path, value) of every string in `data` that looks like ENC[...]."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _encrypted(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _encrypted(v, (*path, i))
    elif isinstance(data, str) and data.startswith("ENC["):
        yield path, data
