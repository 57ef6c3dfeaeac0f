"""Freeze windows from tables, with a clock: weekly (wrapping the week), daily (wrapping midnight),
dated, across a daylight-saving change, and bad windows named in the error."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hotswap_cli.core.config.freeze import frozen, parse_window
from hotswap_cli.errors import ConfigError

BERLIN = ZoneInfo("Europe/Berlin")
WEEKEND = "Fri 16:00-Mon 08:00 Europe/Berlin"


def at(text: str, zone: ZoneInfo = BERLIN) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone).timestamp()


# 2026-12-04 is a Friday
@pytest.mark.parametrize(("window", "now", "until"), [
    (WEEKEND, "2026-12-04 15:59", None),
    (WEEKEND, "2026-12-04 16:00", "Mon 2026-12-07 08:00 CET"),
    (WEEKEND, "2026-12-06 23:00", "Mon 2026-12-07 08:00 CET"),  # Sunday: across the week's end
    (WEEKEND, "2026-12-07 07:59", "Mon 2026-12-07 08:00 CET"),
    (WEEKEND, "2026-12-07 08:00", None),  # end-exclusive
    (WEEKEND, "2026-12-02 12:00", None),  # Wednesday
    ("friday 16:00-Mon 08:00 Europe/Berlin", "2026-12-05 10:00", "Mon 2026-12-07 08:00 CET"),
    ("Tue 09:00-Tue 11:00 Europe/Berlin", "2026-12-01 10:00", "Tue 2026-12-01 11:00 CET"),
    # Friday 27 March 2026, the window ends after clocks move forward on Sunday: 08:00 summer time
    (WEEKEND, "2026-03-28 12:00", "Mon 2026-03-30 08:00 CEST"),
    ("daily 22:00-06:00 UTC", "2026-12-02 21:59", None),
    ("daily 22:00-06:00 UTC", "2026-12-02 23:30", "Thu 2026-12-03 06:00 UTC"),
    ("daily 22:00-06:00 UTC", "2026-12-03 05:00", "Thu 2026-12-03 06:00 UTC"),
    ("daily 12:00-13:00 UTC", "2026-12-03 12:30", "Thu 2026-12-03 13:00 UTC"),
    ("daily 12:00-13:00 UTC", "2026-12-03 13:00", None),
    ("2026-12-24 00:00-2026-12-27 00:00 UTC", "2026-12-25 12:00", "Sun 2026-12-27 00:00 UTC"),
    ("2026-12-24 00:00-2026-12-27 00:00 UTC", "2026-12-27 00:00", None),
    ("2026-12-24 00:00-2026-12-27 00:00 UTC", "2026-12-23 23:59", None),
])
def test_window_at_a_moment(window: str, now: str, until: str | None) -> None:
    zone = ZoneInfo(window.rsplit(" ", 1)[1])
    found = frozen([window], at(now, zone))
    if until is None:
        assert found is None
    else:
        assert found is not None and found.window == window
        assert found.until.strftime("%a %Y-%m-%d %H:%M ") + str(found.until.tzname()) == until
        assert found.describe().startswith(f"frozen until {until} (freeze window")


def test_the_window_that_closes_last_is_the_one_named() -> None:
    windows = ["daily 15:00-18:00 Europe/Berlin", WEEKEND]
    found = frozen(windows, at("2026-12-04 16:30"))
    assert found is not None and found.window == WEEKEND


def test_the_same_window_in_summer_and_winter_is_the_same_wall_clock_time() -> None:
    for day in ("2026-07-03", "2026-12-04"):  # Fridays: UTC+2, then UTC+1
        assert frozen([WEEKEND], at(f"{day} 15:59")) is None
        assert frozen([WEEKEND], at(f"{day} 16:00")) is not None


@pytest.mark.parametrize(("window", "message"), [
    ("weekends", 'freeze window "weekends" is not understood'),
    ("Fri 16:00-Mon 08:00", "is not understood"),  # the zone is required
    ("Fri 16:00-Mon 08:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("Fri 25:00-Mon 08:00 UTC", "25:00 is not a time of day"),
    ("Frx 16:00-Mon 08:00 UTC", "'Frx' is not a day"),
    ("daily 10:00-10:00 UTC", "starts and ends at the same time"),
    ("2026-12-27 00:00-2026-12-24 00:00 UTC", "it ends before it starts"),
    ("2026-02-30 00:00-2026-03-02 00:00 UTC", "2026-02-30"),
])
def test_a_bad_window_is_a_config_error_naming_it(window: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_window(window)
    assert message in caught.value.message
    assert window.split()[0] in caught.value.message


def test_a_bad_window_is_an_error_even_when_another_applies() -> None:
    with pytest.raises(ConfigError, match="nonsense"):
        frozen(["daily 00:00-23:59 UTC", "nonsense"], at("2026-12-02 12:00"))
