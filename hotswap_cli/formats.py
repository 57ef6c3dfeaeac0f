"""Config bytes: what a target receives (json or yaml), and reading such bytes back as data
within bounded_yaml's limits."""

from __future__ import annotations

import json
from typing import Any

from hotswap_cli.bounded_yaml import MAX_DEPTH, DataLimitError, check_depth, compose_yaml, format_size, text_dates

__all__ = ["CONTENT_TYPES", "FORMATS", "encode", "format_for", "format_size", "parse_config_bytes"]

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
    """JSON or YAML bytes as data (what an instance or a transport hands back): JSON when it is
    JSON, else YAML through compose_yaml's limits. Raises ValueError (DataLimitError for a refusal)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise DataLimitError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        pass
    else:
        check_depth(data)
        return data
    import yaml

    try:
        text = raw.decode("utf-8")
        node = compose_yaml(text)
        return None if node is None else text_dates().construct_document(node)
    except UnicodeDecodeError:
        raise ValueError("not JSON or YAML: not UTF-8 text") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        where = f" (line {line})" if line else ""
        raise ValueError(f"not JSON or YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"not JSON or YAML: {str(exc).splitlines()[0]}") from None
