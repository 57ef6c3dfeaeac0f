"""Wall-clock text for --json lines and records: each second is formatted once and reused, so the
text must stay what datetime gives for any moment, across second boundaries and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hotswap_cli.core.deploy.ledger import utc_iso
from hotswap_cli.runner.events import wall_time

MOMENTS = [0.0, 1764600000.0, 1764600000.9995, 1764600001.0004, 1764600000.123456, 1764600059.999,
           1764600060.0, 1764600000.5, -0.5, 951782400.25]  # back to an earlier second, a leap day


@pytest.mark.parametrize("epoch", MOMENTS)
def test_wall_time_and_utc_iso_say_what_datetime_says(epoch: float) -> None:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    assert wall_time(epoch) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert utc_iso(epoch) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_alternating_seconds_never_reuse_the_wrong_one() -> None:
    for _ in range(3):
        for epoch in MOMENTS:
            assert utc_iso(epoch) == datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
