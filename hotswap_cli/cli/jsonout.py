"""What `--json` output shares (docs/json.md): every moment as ISO 8601 UTC with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(value: str | float | None) -> str | None:
    """`2026-11-30T17:02:03Z` from git's ISO 8601 with an offset (`…+02:00`) or an epoch; None stays None,
    and text that is not a moment is returned as it is (never a crash on an odd date)."""
    if value is None or value == "":
        return None
    try:
        moment = (datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int | float)
                  else datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError, OSError):
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
