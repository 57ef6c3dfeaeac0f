"""Config bytes: what a target receives (json or yaml) and reading such bytes back as data."""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("json", "yaml")
CONTENT_TYPES = {"json": "application/json", "yaml": "application/yaml"}


def format_for(location: str, explicit: str | None = None) -> str:
    """`format:` if given, else from the path or URL suffix (.yaml/.yml -> yaml), else json."""
    if explicit:
        return explicit
    return "yaml" if location.endswith((".yaml", ".yml")) else "json"


def encode(config: Any, fmt: str) -> bytes:
    """The bytes pushed for a rendered config (its identity stays config_hash(config))."""
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode("utf-8")
    return (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def parse_config_bytes(raw: bytes) -> Any:
    """JSON or YAML bytes as data (what a transport reads back). Raises ValueError when neither."""
    try:
        return json.loads(raw)
    except ValueError:
        import yaml

        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ValueError(f"not JSON or YAML: {str(exc).splitlines()[0]}") from None
