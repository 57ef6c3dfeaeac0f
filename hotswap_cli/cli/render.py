"""`hotswap render PROFILE`: the merged config as YAML or JSON, or the bytes a target receives."""

from __future__ import annotations

import json
import sys

import typer

from hotswap_cli.cli.context import env_of
from hotswap_cli.core.config.profile import load_profile


def render(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name, e.g. payment-service.production."),
    fmt: str = typer.Option(None, "--format", "-f", help="yaml or json: the merged config in that format."),
    target: str = typer.Option(None, "--target", "-t", help="The bytes this target receives."),
) -> None:
    """Print a profile's rendered config (templates merged under its own config); secrets masked.

    When the profile's targets receive something other than the config as JSON or YAML (a
    template, toml, ini, properties, env, text), it prints the final bytes each receives (one
    block per distinct payload, the targets named on stderr); --format shows the merged config
    instead, --target one target's bytes."""
    from hotswap_cli.core.config.payload import render_payloads, structured
    from hotswap_cli.core.config.render import render_profile
    from hotswap_cli.core.config.yamlsrc import dump_yaml
    from hotswap_cli.core.secrets.crypto import mask_config
    from hotswap_cli.errors import UsageError

    if fmt not in (None, "yaml", "json"):
        raise UsageError(f"--format must be yaml or json, not {fmt!r}")
    env = env_of(ctx)
    repo = env.repo
    loaded = load_profile(repo, profile, registry=target is not None)
    data = mask_config(render_profile(repo, loaded).data, repo.load_schema(loaded.schema)[0])
    targets = loaded.targets
    if target is not None:
        targets = tuple(t for t in loaded.targets if t.name == target)
        if not targets:
            names = ", ".join(t.name for t in loaded.targets) or "none"
            raise UsageError(f"{profile} has no target {target!r} (targets: {names})")
    if env.json and target is not None:  # one document: what the target receives
        import hashlib

        [one] = targets
        payload = render_payloads(repo, loaded, data, targets)[one.name]
        env.print_json({"profile": profile, "target": one.name, "format": one.transport.format,
                        "template": one.transport.template, "sha256": hashlib.sha256(payload).hexdigest(),
                        "size": len(payload), "text": payload.decode("utf-8", "replace")})
        return
    if fmt is None and not env.json and (target is not None or any(not structured(t) for t in targets)):
        payloads = render_payloads(repo, loaded, data, targets)
        blocks: dict[bytes, list[str]] = {}
        for name, payload in payloads.items():
            blocks.setdefault(payload, []).append(name)
        for payload, names in blocks.items():
            if len(blocks) > 1 or target is None:
                env.message(f"# {', '.join(names)}")
            sys.stdout.write(payload.decode("utf-8", "replace"))
            sys.stdout.flush()
        return
    if fmt == "json" or env.json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(dump_yaml(data))
