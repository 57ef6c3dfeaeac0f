"""hotswap: ship service configuration from git to running instances, safely."""

__version__ = "0.1.0"
