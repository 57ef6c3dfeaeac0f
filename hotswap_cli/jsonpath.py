"""JSONPath: how a place in a config is named, in every message and report."""

from __future__ import annotations

JsonPath = tuple[str | int, ...]


def format_path(path: JsonPath) -> str:
    """('database', 'pool', 'max') -> $.database.pool.max; list indices as [i]."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum() and not part[:1].isdigit():
            out += f".{part}"
        else:
            out += "[" + repr(part) + "]"
    return out
