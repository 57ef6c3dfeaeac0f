"""What each target receives: the rendered config in the target's format (json, yaml, toml, ini,
properties, env, text), or a template's rendering. One place decides it, for validate (with
secrets masked), `render` and deploy (with secrets decrypted, in memory only)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hotswap_cli import formats
from hotswap_cli.errors import ConfigError, ExitCode
from hotswap_cli.model import JsonPath, format_path

if TYPE_CHECKING:
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.model import Profile
    from hotswap_cli.specs import Target


class PayloadError(ConfigError):
    """A config the target's format cannot hold, or a template that does not render: exit 3 (the
    version is invalid), found by `validate` before any deploy."""

    exit_code = ExitCode.INVALID

    def __init__(self, message: str, *, target: str, reason: str, path: JsonPath | None = None,
                 where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.target = target
        self.reason = reason  # the message without the target and the place
        self.path = path  # the config path at fault (a format refusal)
        self.where = where  # templates/<file>:<line> (a template error)


def structured(target: Target) -> bool:
    """Whether the target's bytes read back into data (see specs.Target.structured)."""
    return target.structured


def payload_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render_payloads(repo: ConfigRepo, profile: Profile, config: Any,
                    targets: Iterable[Target] | None = None) -> dict[str, bytes]:
    """Target name -> the bytes it receives. Each distinct (format, template) renders once
    (per instance only for templates that name `instance`)."""
    from hotswap_cli.core.config.templates import TemplateError, render_template, uses_instance

    out: dict[str, bytes] = {}
    cache: dict[tuple[str, str | None, str], bytes] = {}
    per_instance: dict[str, bool] = {}
    for target in profile.targets if targets is None else targets:
        fmt, template = target.transport.format, target.transport.template
        if template is not None and template not in per_instance:
            per_instance[template] = uses_instance(repo, template)
        key = (fmt, template, target.name if template and per_instance[template] else "")
        if key not in cache:
            if template is not None:
                try:
                    cache[key] = render_template(repo, template, config, profile=profile.name, instance=target.name)
                except TemplateError as exc:
                    raise PayloadError(f"target {target.name}: {exc.message}", target=target.name,
                                       reason=exc.reason, where=exc.where, hint=exc.hint) from None
            else:
                try:
                    cache[key] = formats.encode(config, fmt)
                except formats.Unrepresentable as exc:
                    raise PayloadError(f"target {target.name}: format {fmt} cannot hold this config: "
                                       f"{format_path(exc.path)}: {exc.reason}", target=target.name,
                                       reason=f"format {fmt} cannot hold this config: {exc.reason}",
                                       path=tuple(exc.path),
                                       hint="pick a format that can (json, yaml), reshape the config, or render "
                                            "it with a template") from None
        out[target.name] = cache[key]
    return out
