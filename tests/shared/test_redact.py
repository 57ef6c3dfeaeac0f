"""The scrubber: a registered secret is hidden in every form it takes in text we write."""

from __future__ import annotations

import io
import json

from hotswap_cli import redact

ODD = 'pa"ss\\wörd-7781'  # a quote, a backslash and a non-ASCII letter: three spellings in JSON


def test_a_secret_is_hidden_raw_and_as_json_writes_it() -> None:
    redact.register({"nested": [ODD, 99887766]})
    for text in (f"echo {ODD}", json.dumps({"v": ODD}), json.dumps({"v": ODD}, ensure_ascii=True),
                 "port 99887766"):
        scrubbed = redact.scrub(text)
        assert "***" in scrubbed and "wörd-7781" not in scrubbed and "w\\u00f6rd" not in scrubbed
        assert "99887766" not in scrubbed
    assert redact.scrub_data({ODD: [f"x {ODD} y", 3]}) == {"***": ["x *** y", 3]}


def test_short_values_are_not_registered_and_reveal_is_explicit() -> None:
    redact.register("true")
    assert redact.scrub('{"enabled": true}') == '{"enabled": true}'
    redact.register("reveal-me-123456")
    with redact.revealing():
        assert redact.scrub("reveal-me-123456") == "reveal-me-123456"
    assert redact.scrub("reveal-me-123456") == "***"


def test_the_stream_wrapper_scrubs_each_write() -> None:
    redact.register("stream-secret-42")
    inner = io.StringIO()
    stream = redact.ScrubbingStream(inner)
    stream.write("a stream-secret-42 b\n")
    stream.writelines(["stream-secret-42\n"])
    assert inner.getvalue() == "a *** b\n***\n"
    assert stream.isatty() is False  # everything else is the wrapped stream's
