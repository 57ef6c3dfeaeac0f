"""What every `hotswap` invocation has: global options, the two consoles, the config repo.
Imports nothing heavy: the fast `validate` path uses it without typer."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from hotswap_cli.core.config.configrepo import ConfigRepo


@dataclass
class Env:
    """Global options and I/O for one invocation (injectable in tests)."""

    repo_option: Path | None = None
    json: bool = False
    no_color: bool = False
    cwd: Path = field(default_factory=Path.cwd)

    @property
    def color(self) -> bool:
        return not self.no_color and "NO_COLOR" not in os.environ

    @cached_property
    def out(self) -> Console:
        """Data: stdout."""
        from rich.console import Console

        # A pipe gets full rows, not a table cut to 80 columns.
        width = None if sys.stdout.isatty() else 250
        return Console(file=sys.stdout, no_color=not self.color, highlight=False, soft_wrap=True,
                       color_system="auto" if self.color else None, width=width)

    @cached_property
    def err(self) -> Console:
        """Messages and progress: stderr."""
        from rich.console import Console

        return Console(file=sys.stderr, no_color=not self.color, highlight=False, soft_wrap=True,
                       color_system="auto" if self.color else None)

    @cached_property
    def root(self) -> Path:
        from hotswap_cli.core.config.configrepo import find_root

        if self.repo_option is not None:
            path = self.repo_option if self.repo_option.is_absolute() else self.cwd / self.repo_option
            return find_root(path)
        return find_root(self.cwd)

    @cached_property
    def repo(self) -> ConfigRepo:
        from hotswap_cli.core.config.configrepo import ConfigRepo

        return ConfigRepo.open(self.root)

    def print_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def print_json_line(self, data: Any) -> None:
        """One compact JSON object per line (streams of events)."""
        sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def message(self, text: str, style: str | None = None) -> None:
        """A line for people, on stderr (plain text unless colour is on: rich loads only then)."""
        if style and self.color and sys.stderr.isatty():
            self.err.print(text, style=style, markup=False)
        else:
            sys.stderr.write(text + "\n")
