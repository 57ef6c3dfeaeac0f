"""The README's first command: `hotswap demo` deploys a good version, reverts a bad one, cleans up."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request


def test_demo_runs_the_whole_story_and_stops_what_it_started(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # as on a fresh machine: no git identity anywhere (the demo's throwaway repo brings its own)
    (tmp_path / "empty-gitconfig").write_text("")
    env = {**_env(), "HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": str(tmp_path / "empty-gitconfig"),
           "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run([sys.executable, "-m", "hotswap_cli", "demo", "--bake", "1s"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "payment-service.production 1.0.0 is live on 5 instance(s)" in out
    # the bad version is caught in the first phase, with the counts and the bound the gate used
    assert re.search(r"health gate failed after phase 1 \(canary 10%\): demo-1: error rate \d+\.\d% "
                     r"\(\d+/\d+ requests\) vs baseline \d+\.\d% \(\d+/\d+\): rise >= \+\d+\.\dpp > 5pp", out), out
    assert "failed and was reverted" in out
    assert len(re.findall(r"demo-\d: running 1\.0\.0;", out)) == 5  # status after the revert
    assert "demo finished" in out
    urls = re.findall(r"http://127\.0\.0\.1:\d+", out)
    assert len(set(urls)) == 5
    for url in set(urls):  # every instance it started is gone
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            raise AssertionError(f"{url} still answers")
        except OSError:
            pass


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items()
            if not k.startswith(("HOTSWAP_", "GIT_")) and k not in ("EMAIL", "USER_EMAIL")}
