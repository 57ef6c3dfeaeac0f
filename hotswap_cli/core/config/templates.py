"""Text templates: a rendered config turned into the file a service reads (nginx.conf, an HAProxy
config, a systemd unit), with Jinja2 in its sandbox.

- Only files under the repo's `templates/` folder can be loaded (`template:`, `{% include %}`,
  `{% import %}`, `{% extends %}`), read through the repo's Source: from the version's git tree at
  deploy, inside the repo's jail everywhere. Nothing else on the filesystem, no network.
- The sandbox refuses unsafe attribute access (`__class__`, `mro`, ...); `StrictUndefined` makes a
  missing key an error naming the template's file and line; autoescape is off (this is not HTML).
- The context: the config's top-level keys as variables, the whole config as `config`, and
  `profile` and `instance` (the target's name) for per-host files.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from hotswap_cli.errors import ConfigError, ExitCode

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from hotswap_cli.core.config.configrepo import ConfigRepo

TEMPLATES_DIR = "templates"


class TemplateError(ConfigError):
    """A template that does not render: `where` is `templates/x.j2:LINE`. Exit 3, like any invalid config."""

    exit_code = ExitCode.INVALID

    def __init__(self, where: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{where}: {message}", hint=hint)
        self.where = where
        self.reason = message


def template_name(path: str) -> str:
    """`templates/nginx.conf.j2` -> `nginx.conf.j2` (the loader's name); refuses paths outside templates/."""
    norm = posixpath.normpath(path)
    if not norm.startswith(f"{TEMPLATES_DIR}/") or norm.startswith("../") or "/../" in f"/{norm}/":
        raise ConfigError(f"template {path!r} is not inside the repo's {TEMPLATES_DIR}/ folder",
                          hint=f"put it under {TEMPLATES_DIR}/ and name it as {TEMPLATES_DIR}/<file>")
    return norm[len(TEMPLATES_DIR) + 1:]


def uses_instance(repo: ConfigRepo, path: str) -> bool:
    """Whether the template (or what it includes) may differ per instance: it names `instance`.
    A cheap over-approximation; it only decides how often a template is rendered."""
    from jinja2 import meta

    env = _environment(repo)
    seen: set[str] = set()
    todo = [template_name(path)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source = _source(repo, name)
        if source is None:
            continue
        try:
            ast = env.parse(source, name=name)
        except Exception:  # noqa: BLE001 - a syntax error is reported by render_template
            return True
        if "instance" in meta.find_undeclared_variables(ast):
            return True
        todo.extend(n for n in meta.find_referenced_templates(ast) if isinstance(n, str))
    return False


def render_template(repo: ConfigRepo, path: str, config: Any, *, profile: str, instance: str = "") -> bytes:
    """The template rendered with the config: UTF-8 bytes, exactly as the service will read them."""
    import jinja2

    env = _environment(repo)
    context = dict(config) if isinstance(config, dict) else {}
    context.update(config=config, profile=profile, instance=instance)
    name = template_name(path)
    try:
        text = env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{_repo_path(exc.name or name)}:{exc.lineno}", f"syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        missing = exc.name if isinstance(exc.name, str) else name
        raise TemplateError(f"{TEMPLATES_DIR}/{missing}", "template not found",
                            hint=f"templates are files under the repo's {TEMPLATES_DIR}/ folder") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(_where(exc, name), f"{exc.message}", hint="the config has no such key: add it, "
                            "or guard it in the template (`{% if x is defined %}`, `x | default(...)`)") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(_where(exc, name), f"refused by the sandbox: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, jinja2.TemplateError) as exc:
        raise TemplateError(_where(exc, name), f"{type(exc).__name__}: {exc}") from None
    return text.encode("utf-8")


def _environment(repo: ConfigRepo) -> SandboxedEnvironment:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    def load(name: str) -> tuple[str, str, Any] | None:
        source = _source(repo, name)
        if source is None:
            return None
        return source, f"{TEMPLATES_DIR}/{name}", lambda: True

    return SandboxedEnvironment(loader=jinja2.FunctionLoader(load), undefined=jinja2.StrictUndefined,
                                autoescape=False, keep_trailing_newline=True, auto_reload=False)


def _source(repo: ConfigRepo, name: str) -> str | None:
    """A template's text, read through the repo's Source (jailed: no path out of templates/)."""
    try:
        template_name(f"{TEMPLATES_DIR}/{name}")
    except ConfigError:
        return None
    raw = repo.source.read(f"{TEMPLATES_DIR}/{name}")
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TemplateError(f"{TEMPLATES_DIR}/{name}", "not UTF-8 text") from None


def _repo_path(name: str) -> str:
    return name if name.startswith(f"{TEMPLATES_DIR}/") else f"{TEMPLATES_DIR}/{name}"


def _where(exc: BaseException, name: str) -> str:
    """`templates/<file>:<line>` of the innermost template frame of a rendering error."""
    tb = exc.__traceback__
    where = f"{TEMPLATES_DIR}/{name}"
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(f"{TEMPLATES_DIR}/"):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where
