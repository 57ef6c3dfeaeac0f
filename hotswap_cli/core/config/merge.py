"""Deep merge for inheritance: maps merge, lists and scalars replace, null deletes a key."""

from __future__ import annotations

from typing import Any


def deep_merge(base: Any, overlay: Any) -> Any:
    """A new value: `overlay` laid over `base`. Neither argument is modified."""
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        return strip_nulls(overlay)
    out = dict(base)
    for key, value in overlay.items():
        if value is None:
            out.pop(key, None)
        elif key in out:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = strip_nulls(value)
    return out


def strip_nulls(value: Any) -> Any:
    """Remove null-valued map keys (a null in the lowest layer deletes nothing but is not kept)."""
    if isinstance(value, dict):
        if not any(v is None or isinstance(v, dict | list) for v in value.values()):
            return value
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value
