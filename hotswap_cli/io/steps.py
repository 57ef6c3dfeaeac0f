"""A failed step of one instance, said once: every backend and io helper builds its TransportError
here as `<step>: <why>`, and a reason that already starts with its step (a nested step, a helper's
own error, the runner's own prefix) is not prefixed again."""

from __future__ import annotations

from hotswap_cli.errors import TransportError


def with_step(step: str, why: str) -> str:
    """`why` led by `step: ` exactly once."""
    return why if why == step or why.startswith(f"{step}: ") else f"{step}: {why}"


def step_error(instance: str, step: str, why: str, *, hint: str | None = None) -> TransportError:
    """TransportError naming `instance`, its reason `<step>: <why>`."""
    return TransportError(instance, with_step(step, why), hint=hint)


def command_failed(instance: str, step: str, code: int, output: str) -> TransportError:
    """A check or reload command that exited non-zero: `check: failed (exit 1): <the end of its output>`."""
    from hotswap_cli.io.process import tail

    return step_error(instance, step, f"failed (exit {code}): {tail(output)}")
