"""Schema `$ref`s stay inside the config repo. A ref into the same schema (`#/...`) is left as is;
a ref to another repo file (`common/1.0.json#/$defs/port`, relative to the referring file) is
read through the repo (so through its jail) and embedded under `$defs`, and the ref rewritten to
point there. Anything else (`http://`, `file://`, an absolute path, a path that climbs out of the
repo) is refused: no validator ever fetches a URL or opens a file of its own."""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Callable
from typing import Any

from hotswap_cli.errors import ConfigError

REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
EMBEDDED = "hotswap-ref"  # $defs key prefix for embedded files

Load = Callable[[str], Any]  # a repo file's parsed data, or None when there is none


def bundle_refs(schema: dict[str, Any], file: str, load: Load) -> dict[str, Any]:
    """`schema` (read from repo file `file`) with every ref to another repo file embedded."""
    embedded: dict[str, str] = {}  # repo file -> its $defs key
    defs: dict[str, Any] = {}

    def embed(target: str, referrer: str) -> str:
        if target not in embedded:
            data = load(target)
            if not isinstance(data, dict):
                raise ConfigError(f"{referrer}: $ref to {target}, which is not a schema file in the config repo")
            key = f"{EMBEDDED}-{len(embedded) + 1}"
            embedded[target] = key
            data = {k: v for k, v in data.items() if k not in ("$id", "$schema", "id")}
            defs[key] = rewrite(copy.deepcopy(data), target, f"/$defs/{key}")
        return embedded[target]

    def rewrite(node: Any, here: str, root: str) -> Any:
        if isinstance(node, list):
            return [rewrite(v, here, root) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: rewrite(v, here, root) for k, v in node.items()}
        for name in REF_KEYS:
            ref = out.get(name)
            if isinstance(ref, str):
                out[name] = resolve(ref, here, root)
        return out

    def resolve(ref: str, here: str, root: str) -> str:
        target, _, fragment = ref.partition("#")
        if fragment and not fragment.startswith("/") and (target or root):
            raise ConfigError(f"{here}: $ref {ref!r}: name fragments (anchors) work only within the main schema",
                              hint="use a JSON pointer such as '#/$defs/name'")
        if not target:
            return f"#{root}{fragment}" if root else ref
        if _SCHEME.match(target) or target.startswith("/"):
            raise ConfigError(f"{here}: $ref {ref!r} points outside the config repo; refs are followed only "
                              "within the schema ('#/...') and to files of the repo, relative to this one",
                              hint="copy what it points to into the repo's schemas/ and refer to it there")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(here), target))
        if joined.startswith("../") or joined == "..":
            raise ConfigError(f"{here}: $ref {ref!r} leaves the config repo")
        return f"#/$defs/{embed(joined, here)}{fragment}"

    bundled = rewrite(schema, file, "")
    if defs:
        bundled["$defs"] = {**(bundled.get("$defs") or {}), **defs}
    return bundled  # type: ignore[no-any-return]
