"""`hotswap demo up|down` through the typer app: URLs on stdout, exactly the started processes stopped."""

from __future__ import annotations

from pathlib import Path

from support.instances import http_get, pid_alive
from typer.testing import CliRunner

from hotswap_cli.cli.demo import app
from hotswap_cli.demo.instances import list_instances


def test_demo_up_then_down(tmp_path: Path) -> None:
    runner = CliRunner()
    up = runner.invoke(app, ["up", "-n", "3", "--dir", str(tmp_path)])
    assert up.exit_code == 0, up.output
    rows = [line.split("\t") for line in up.stdout.splitlines()]
    assert [r[0] for r in rows] == ["demo-1", "demo-2", "demo-3"]
    assert "started 3 demo instance(s)" in up.stderr
    for _, url, config in rows:
        # its simulated traffic fails 0.5 % of requests, /health included: healthy means mostly 200
        assert [http_get(url + "/health")[0] for _ in range(5)].count(200) >= 4
        assert Path(config).exists()
    pids = {i.pid for i in list_instances(tmp_path)}
    assert len(pids) == 3 and all(pid_alive(p) for p in pids)

    again = runner.invoke(app, ["up", "--dir", str(tmp_path)])
    assert again.exit_code != 0 and "already run" in str(again.exception)

    down = runner.invoke(app, ["down", "--dir", str(tmp_path)])
    assert down.exit_code == 0 and "stopped 3 demo instance(s)" in down.stderr
    assert not any(pid_alive(p) for p in pids)
    assert list_instances(tmp_path) == []
