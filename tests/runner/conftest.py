"""Make tests/runner/runner_fakes.py importable as `runner_fakes` (also for the deploy tests)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
