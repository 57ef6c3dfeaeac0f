"""Freeze windows: when an environment takes no deploys, read on the zone's own wall clock.

Three forms, each ending in an IANA zone name (or UTC):

    Fri 16:00-Mon 08:00 Europe/Berlin        every week (may wrap the week: Sat-Sun, Fri-Mon)
    daily 22:00-06:00 UTC                    every day (may wrap midnight)
    2026-12-24 00:00-2026-12-27 00:00 UTC    once, between two dates

A window is start-inclusive and end-exclusive; times are wall-clock times in the zone, so a
window keeps its meaning across a daylight-saving change."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hotswap_cli.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = 7 * 24 * 60  # minutes
_DAY = 24 * 60
_TIME = r"(\d{1,2}):(\d{2})"
_WEEKLY = re.compile(rf"^([A-Za-z]{{3}})[a-z]*\s+{_TIME}\s*-\s*([A-Za-z]{{3}})[a-z]*\s+{_TIME}\s+(\S+)$")
_DAILY = re.compile(rf"^daily\s+{_TIME}\s*-\s*{_TIME}\s+(\S+)$", re.IGNORECASE)
_DATES = re.compile(r"^(\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2})\s*-\s*(\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2})\s+(\S+)$")
FORMS = ('"Fri 16:00-Mon 08:00 Europe/Berlin"', '"daily 22:00-06:00 UTC"',
         '"2026-12-24 00:00-2026-12-27 00:00 UTC"')


@dataclass(frozen=True)
class FreezeWindow:
    """One parsed window: `start`/`end` are minutes into the week (weekly) or the day (daily),
    or the two moments of a dated window."""

    text: str
    kind: str  # weekly | daily | dates
    zone: ZoneInfo
    start: int = 0
    end: int = 0
    first: datetime | None = None  # dates: aware datetimes
    last: datetime | None = None

    def until(self, now: float) -> datetime | None:
        """When the window closes if `now` is inside it (an aware datetime in its zone), else None."""
        local = datetime.fromtimestamp(now, self.zone)
        if self.kind == "dates":
            assert self.first is not None and self.last is not None
            return self.last if self.first <= local < self.last else None
        period = _WEEK if self.kind == "weekly" else _DAY
        minute = local.hour * 60 + local.minute + (local.weekday() * _DAY if self.kind == "weekly" else 0)
        inside = (self.start <= minute < self.end if self.start < self.end
                  else minute >= self.start or minute < self.end)
        if not inside:
            return None
        ahead = (self.end - minute) % period or period
        wall = local.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=ahead)
        return wall.replace(tzinfo=self.zone)  # wall-clock arithmetic: the zone's offset at that moment


@dataclass(frozen=True)
class Frozen:
    """A freeze in force: the window and when it ends."""

    window: str
    until: datetime

    def describe(self) -> str:
        when = f"{self.until.strftime('%a %Y-%m-%d %H:%M')} {self.until.tzname()}"
        return f'frozen until {when} (freeze window "{self.window}")'


def _zone(name: str, text: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"freeze window \"{text}\": unknown time zone {name!r} (an IANA name such as "
                          "Europe/Berlin, or UTC)") from None


def _minutes(hour: str, minute: str, text: str) -> int:
    h, m = int(hour), int(minute)
    if h > 23 or m > 59:
        raise ConfigError(f"freeze window \"{text}\": {hour}:{minute} is not a time of day")
    return h * 60 + m


def _day(name: str, text: str) -> int:
    try:
        return DAYS.index(name.lower())
    except ValueError:
        raise ConfigError(f"freeze window \"{text}\": {name!r} is not a day (Mon, Tue, … Sun)") from None


def parse_window(text: str) -> FreezeWindow:
    """One window; ConfigError naming it when it is none of the three forms."""
    clean = " ".join(str(text).split())
    if m := _DATES.match(clean):
        zone = _zone(m.group(3), clean)
        try:
            first, last = (datetime.strptime(g, "%Y-%m-%d %H:%M").replace(tzinfo=zone) for g in m.group(1, 2))
        except ValueError as exc:
            raise ConfigError(f"freeze window \"{clean}\": {exc}") from None
        if last <= first:
            raise ConfigError(f"freeze window \"{clean}\": it ends before it starts")
        return FreezeWindow(clean, "dates", zone, first=first, last=last)
    if m := _DAILY.match(clean):
        start, end = _minutes(m.group(1), m.group(2), clean), _minutes(m.group(3), m.group(4), clean)
        if start == end:
            raise ConfigError(f"freeze window \"{clean}\": it starts and ends at the same time")
        return FreezeWindow(clean, "daily", _zone(m.group(5), clean), start, end)
    if m := _WEEKLY.match(clean):
        start = _day(m.group(1), clean) * _DAY + _minutes(m.group(2), m.group(3), clean)
        end = _day(m.group(4), clean) * _DAY + _minutes(m.group(5), m.group(6), clean)
        if start == end:
            raise ConfigError(f"freeze window \"{clean}\": it starts and ends at the same time")
        return FreezeWindow(clean, "weekly", _zone(m.group(7), clean), start, end)
    raise ConfigError(f"freeze window \"{clean}\" is not understood: write it as one of {', '.join(FORMS)}")


def parse_windows(texts: tuple[str, ...] | list[str]) -> tuple[FreezeWindow, ...]:
    return tuple(parse_window(t) for t in texts)


def frozen(windows: tuple[str, ...] | list[str], now: float) -> Frozen | None:
    """The freeze in force at `now` (epoch seconds): the window that closes last, or None.
    Every window is parsed, so a bad one is an error even outside the others."""
    found = [(until, w.text) for w in parse_windows(windows) if (until := w.until(now)) is not None]
    if not found:
        return None
    until, text = max(found, key=lambda pair: pair[0].timestamp())
    return Frozen(text, until)
