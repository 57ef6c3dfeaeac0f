"""Push to 50 ssh targets (one sshd, 50 paths): hotswap's ssh transport vs a bare paramiko script.

Both do the same work per target with the same concurrency: connect, read the current file,
upload a temp file next to it, run the check command, rename it into place, run the reload
command. Prints both wall times (median of --rounds), and the ratio hotswap / bare.

    python benchmarks/ssh_push_bench.py [--targets 50] [--concurrency 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.push import push  # noqa: E402
from support.sshd import SshServer, start_sshd  # noqa: E402

from hotswap_cli.specs import target as make_target  # noqa: E402

CHECK = "test -s {path}"
RELOAD = "true"


def hotswap_push(server: SshServer, path: Path, data: bytes) -> None:
    push(make_target(path.parent.name, server.spec(path, check=CHECK, reload=RELOAD)), data)


def bare_push(server: SshServer, path: Path, data: bytes) -> None:
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts))
    client.connect("127.0.0.1", port=server.port, username=server.user, key_filename=str(server.user_key),
                   allow_agent=False, look_for_keys=False, timeout=10)
    try:
        sftp = client.open_sftp()
        with sftp.open(str(path), "rb") as fh:
            fh.read()
        tmp = f"{path.parent}/.{path.name}.tmp"
        with sftp.open(tmp, "wb") as fh:
            fh.set_pipelined(True)
            fh.write(data)
        for command in (CHECK.replace("{path}", shlex.quote(tmp)),):
            _, out, _ = client.exec_command(command)
            assert out.channel.recv_exit_status() == 0
        sftp.posix_rename(tmp, str(path))
        _, out, _ = client.exec_command(RELOAD)
        assert out.channel.recv_exit_status() == 0
    finally:
        client.close()


def timed(push: Callable[[SshServer, Path, bytes], None], server: SshServer, paths: list[Path],
          concurrency: int, data: bytes) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda p: push(server, p, data), paths))
    elapsed = time.perf_counter() - started
    assert all(p.read_bytes() == data for p in paths), "a push did not land"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_sshd(Path(tmp) / "sshd")
        try:
            paths = []
            for i in range(args.targets):
                (Path(tmp) / f"t{i}").mkdir()
                paths.append(Path(tmp) / f"t{i}" / "app.json")
                paths[-1].write_bytes(b'{"round": -1}\n')
            ours, bare = [], []
            for r in range(args.rounds):  # alternate, so both see the same machine state
                bare.append(timed(bare_push, server, paths, args.concurrency, f'{{"bare": {r}}}\n'.encode()))
                ours.append(timed(hotswap_push, server, paths, args.concurrency, f'{{"hs": {r}}}\n'.encode()))
        finally:
            server.stop()
    h, b = statistics.median(ours), statistics.median(bare)
    print(f"targets={args.targets} concurrency={args.concurrency} rounds={args.rounds}")
    print(f"hotswap ssh transport: {h:.3f}s")
    print(f"bare paramiko script:  {b:.3f}s")
    print(f"ratio: {h / b:.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main()
