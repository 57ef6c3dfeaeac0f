"""Render a profile: resolve its `extends:` chain and deep-merge templates under its config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotswap_cli.core.config.configrepo import ConfigRepo
from hotswap_cli.core.config.merge import deep_merge
from hotswap_cli.core.config.profile import read_profile
from hotswap_cli.core.config.yamlsrc import Document
from hotswap_cli.errors import ConfigError
from hotswap_cli.model import MAX_CONFIG_BYTES, JsonPath, Location, Profile, canonical_json, config_hash

TEMPLATE_EXTENDS_KEY = "$extends"


@dataclass(frozen=True)
class Rendered:
    """A profile's rendered config and the documents (lowest first) it was merged from."""

    profile: str
    data: Any
    layers: tuple[Document, ...]

    def locate(self, path: JsonPath) -> Location:
        """The file:line that defines `path`: the topmost layer holding it, else its nearest parent."""
        for cut in range(len(path), -1, -1):
            prefix = path[:cut]
            for layer in reversed(self.layers):
                loc = layer.locations.get(prefix)
                if loc is not None:
                    return loc
        return Location(self.layers[-1].file if self.layers else "")

    @property
    def canonical(self) -> bytes:
        return canonical_json(self.data)

    @property
    def sha256(self) -> str:
        return config_hash(self.data)

    @property
    def size(self) -> int:
        return len(self.canonical)


def template_chain(repo: ConfigRepo, names: tuple[str, ...], trail: tuple[str, ...] = ()) -> list[Document]:
    """Documents of the named templates and everything they extend, lowest first."""
    layers: list[Document] = []
    for name in names:
        if name in trail:
            raise ConfigError(f"template cycle: {' -> '.join((*trail, name))}")
        path = repo.find_data_file(f"templates/{name}")
        doc = repo.document(path) if path else None
        if doc is None:
            chain = " -> ".join((*trail, name))
            raise ConfigError(f"template {name!r} not found (templates/{name}.yaml), extended by {chain}")
        if doc.data is not None and not isinstance(doc.data, dict):
            raise ConfigError(f"{doc.file}: a template must be a mapping")
        parents = (doc.data or {}).get(TEMPLATE_EXTENDS_KEY) or []
        if isinstance(parents, str):
            parents = [parents]
        layers.extend(template_chain(repo, tuple(parents), (*trail, name)))
        layers.append(doc)
    return layers


def render_profile(repo: ConfigRepo, profile: Profile) -> Rendered:
    """The merged config for `profile`; raises ConfigError on a broken chain or an oversize result."""
    src = read_profile(repo, profile.name)
    layers = template_chain(repo, profile.extends, (profile.name,))
    if src.config is not None:
        if src.config.data is not None and not isinstance(src.config.data, dict):
            raise ConfigError(f"{src.config.file}: the config must be a mapping")
        layers.append(src.config)
    data: Any = {}
    for layer in layers:
        own = {k: v for k, v in (layer.data or {}).items() if k != TEMPLATE_EXTENDS_KEY}
        data = deep_merge(data, own)
    rendered = Rendered(profile.name, data, tuple(layers))
    size = rendered.size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{profile.name}: rendered config is {size} bytes, over the 1 MiB limit ({MAX_CONFIG_BYTES} bytes)",
            hint="split it or move large data out of the config",
        )
    return rendered
