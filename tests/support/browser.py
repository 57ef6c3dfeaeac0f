"""A real headless browser for tests of HTML output: Debian's `chromium`, run once per question
(a screenshot, the DOM after scripts and layout). Missing chromium is a failure, never a skip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser")
TIMEOUT = 90.0


def chromium() -> str:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: the HTML report is checked in a real headless browser; install "
                "Debian's package: apt-get install -y --no-install-recommends chromium", pytrace=False)


def _run(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # --no-sandbox: tests run as root in CI; a profile directory of its own: parallel test runs
    # (and a person's own browser) never share one
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--disable-extensions", "--disable-background-networking", "--disable-sync",
           f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if result.returncode != 0:
        raise AssertionError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def screenshot(page: Path, png: Path, *, width: int = 1200, height: int = 900) -> Path:
    """The page as a PNG of width x height pixels."""
    _run(page, png.parent / f".chromium-{png.stem}", f"--screenshot={png}", f"--window-size={width},{height}")
    assert png.exists(), f"chromium wrote no screenshot to {png}"
    return png


def dump_dom(page: Path) -> str:
    """The DOM as the browser built it (serialized HTML, inline SVG included)."""
    return _run(page, page.parent / f".chromium-{page.stem}-dom", "--dump-dom").stdout
