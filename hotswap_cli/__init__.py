"""hotswap: ship service configuration from git to running instances, safely."""

from pathlib import Path

__version__ = "0.1.0"

DATA_DIR = Path(__file__).resolve().parent / "data"  # the profile schema, the scaffold, the example repo
