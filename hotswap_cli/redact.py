"""Nothing secret leaves the process in text. Every decrypted secret value (and the key) is
registered here when it comes into memory; the terminal streams, `--json`, the ledger, trace
attributes and traceback files pass what they write through `scrub`, so the output of an
`nginx -t` that echoes a config line, or a server that answers with the body it was sent, shows
`***` where the secret stood.

Limits: values shorter than MIN_LENGTH are not registered (scrubbing "true" or "8080" would
garble every output, and a secret that short is guessable anyway); a value split across two
writes of a stream is not seen whole (rich, JSON and messages write whole lines)."""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

MIN_LENGTH = 6
REPLACEMENT = "***"

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None
_revealing = threading.local()


def register(value: Any) -> None:
    """Remember a secret value (strings inside lists and mappings too) and the forms it takes in
    JSON text, so every later `scrub` hides it."""
    global _pattern
    forms = set()
    for text in _texts(value):
        if len(text) >= MIN_LENGTH:
            forms.add(text)
            forms.add(json.dumps(text)[1:-1])  # escaped, as in --json and traces
            forms.add(json.dumps(text, ensure_ascii=True)[1:-1])  # as in the ledger
    if not forms - _values:
        return
    with _lock:
        _values.update(forms)
        ordered = sorted(_values, key=len, reverse=True)  # the longest first: no partial leftovers
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _texts(v)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    pattern = _pattern
    if pattern is None or not text or getattr(_revealing, "on", False):
        return text
    return pattern.sub(REPLACEMENT, text)


def scrub_data(data: Any) -> Any:
    """A copy of `data` (JSON-like) with every string scrubbed, keys included."""
    if _pattern is None:
        return data
    if isinstance(data, str):
        return scrub(data)
    if isinstance(data, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [scrub_data(v) for v in data]
    return data


def forget() -> None:
    """Drop every registered value (tests; a long-lived process between unrelated runs)."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None


@contextlib.contextmanager
def revealing() -> Iterator[None]:
    """Output in this block (on this thread) is not scrubbed: only for `show --reveal`, which
    exists to print secrets on request."""
    _revealing.on = True
    try:
        yield
    finally:
        _revealing.on = False


class ScrubbingStream:
    """A text stream that scrubs what is written to it; everything else is the wrapped stream's."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(scrub(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextlib.contextmanager
def scrubbed_stdio() -> Iterator[None]:
    """sys.stdout and sys.stderr scrubbed for the duration (the CLI's one boundary uses this)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = ScrubbingStream(saved[0])  # type: ignore[assignment]
    sys.stderr = ScrubbingStream(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
