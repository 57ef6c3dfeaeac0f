"""`hotswap secret set`: parse the JSONPath it names and write an encrypted value into a profile's
config file, changing only that line where it can."""

from __future__ import annotations

import json
import os
import re
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
)
from hotswap_cli.errors import ConfigError, SecretError
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
    for where, existing in secret_values(render_profile(repo, loaded).data, schema):
        if is_well_formed(existing):
            try:
                decrypt_value(existing, key, format_path(where))
            except SecretError as exc:
                raise SecretError(f"{exc.message}: this key did not encrypt {profile}'s secrets; "
                                  "nothing written") from None
    src = read_profile(repo, profile)
    raw = repo.source.read(src.config_file)
    text = raw.decode("utf-8") if raw is not None else ""
    try:
        new_text, kept = edit_config_text(text, src.config_file, path, encrypt_value(value, key))
    except (IndexError, KeyError):
        raise ConfigError(f"{format_path(path)}: no such list item in {src.config_file}") from None
    target = root / src.config_file
    tmp = target.with_name(f".{target.name}.hotswap-tmp")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, target)
    return src.config_file, kept
