"""Direct deploy to 50 ssh targets: the whole `hotswap deploy` process vs a bare paramiko script vs
ansible-playbook, measured side by side in one run.

Every tool does the same steps per target on one real sshd (127.0.0.1), logged in as a throwaway
user with a clean shell (`/bin/sh`, no rc files: root's ~/.bashrc here runs `pyenv init` for every
ssh command, which would dominate): read the current file, upload the new bytes next to it, check
them (`test -s`), rename into place, reload (`true`), and a health command on the target (`test -s`).

- hotswap: `python -m hotswap_cli deploy PROFILE 1.0.0 --direct --yes --json` (the interpreter, not
  the pyenv shim on PATH, which adds ~200 ms), a `command` probe with `where: target`, no bake.
- bare:    a separate Python process, paramiko, one connection per target, 50 threads.
- ansible: ansible-playbook, forks 50, pipelining on, ControlPersist 60s (its best settings);
           copy with `validate`, then reload and health as `command` tasks.

Targets (issue 15): hotswap <= 1.3x bare, <= 0.1x ansible. Needs root (it creates the user
`hsbench` and removes it on exit).

    python benchmarks/ssh_push_bench.py [--targets 50] [--rounds 3] [--no-ansible]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _bench_support import ConfigRepo, Run, child_env, run_hotswap, verdict  # noqa: E402

USER = "hsbench"
CHECK = "test -s {path}"
RELOAD = "true"
SYSTEM_PYTHON = "/usr/bin/python3"  # ansible's remote interpreter: the bench user cannot read /root/.pyenv


@dataclass
class Fleet:
    """One sshd, `n` target files (each in its own directory) owned by the bench user."""

    server: Any  # support.sshd.SshServer
    work: Path
    paths: list[Path]

    def spec(self, path: Path) -> dict[str, Any]:
        return self.server.spec(path, user=USER, check=CHECK, reload=RELOAD, timeout="10s")

    def landed(self, marker: str) -> int:
        return sum(marker in p.read_text() for p in self.paths)


@contextmanager
def fleet(n: int) -> Iterator[Fleet]:
    """The bench user, a world-traversable sshd directory (sshd reads authorized_keys as the user)
    and `n` target files; everything removed on exit."""
    from support.sshd import start_sshd

    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates the user hsbench (shell /bin/sh)")
    work = Path(tempfile.mkdtemp(dir="/tmp", prefix="hotswap-bench-ssh-"))
    work.chmod(0o755)
    server = None
    _remove_user()
    try:
        subprocess.run(["useradd", "-m", "-d", str(work / "home"), "-U", "-s", "/bin/sh", USER], check=True,
                       capture_output=True)
        subprocess.run(["usermod", "-p", "*", USER], check=True, capture_output=True)  # key login, UsePAM no
        account = pwd.getpwnam(USER)
        sshd_dir = work / "sshd"
        sshd_dir.mkdir(mode=0o755)
        server = start_sshd(sshd_dir)
        (sshd_dir / "authorized_keys").chmod(0o644)
        paths = []
        for i in range(n):
            directory = work / "remote" / f"t{i}"
            directory.mkdir(parents=True)
            os.chown(directory, account.pw_uid, account.pw_gid)
            path = directory / "app.json"
            path.write_text('{"initial": true}\n')
            os.chown(path, account.pw_uid, account.pw_gid)
            paths.append(path)
        os.chmod(work / "remote", 0o755)
        yield Fleet(server, work, paths)
    finally:
        if server is not None:
            server.stop()
        _remove_user()
        shutil.rmtree(work, ignore_errors=True)


def _remove_user() -> None:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return
    subprocess.run(["userdel", "-r", "-f", USER], capture_output=True)
    subprocess.run(["groupdel", USER], capture_output=True)


# -- hotswap ------------------------------------------------------------------------------------

def hotswap_repo(f: Fleet, name: str) -> ConfigRepo:
    targets = [{"name": f"t{i}", "transport": f.spec(p),
                "health": [{"type": "command", "where": "target", "command": f"test -s {shlex.quote(str(p))}"}]}
               for i, p in enumerate(f.paths)]
    return ConfigRepo(f.work / name, targets)


def hotswap_deploy(f: Fleet, repo: ConfigRepo, version: str, *args: str) -> Run:
    run = run_hotswap(["--repo", str(repo.root), "deploy", repo.profile, version, "--yes", "--json", *args],
                      env=child_env(f.work), timeout=300)
    result = run.first("result")
    if result is None or result.get("status") != "completed":
        raise RuntimeError(f"hotswap deploy {version} (exit {run.code}): "
                           f"{result.get('reason') if result else run.stderr[-1500:]}")
    return run


def phases(run: Run) -> str:
    """Where the time went: the runner (deploy_started -> deploy_finished, from the events'
    elapsed_s) and everything else (start-up, imports, git, plan with its live read, ledger)."""
    marks = {e["event"]: e["elapsed_s"] for e in run.events if "elapsed_s" in e}
    runner = marks.get("deploy_finished", 0.0) - marks.get("deploy_started", 0.0)
    pushed = marks.get("bake_started", marks.get("verdict"))
    return (f"runner {runner:.2f}s" + (f" (pushes done at {pushed:.2f}s)" if pushed is not None else "")
            + f", outside the runner {run.wall - runner:.2f}s")


# -- the bare paramiko script (its own process) --------------------------------------------------

def bare_worker(job: dict[str, Any]) -> None:
    """One target per connection: connect, read, upload, check, rename, reload, health; `workers` at once."""
    import paramiko

    data = job["data"].encode()

    def push(path: str) -> None:
        client = paramiko.SSHClient()
        client.load_host_keys(job["known_hosts"])
        client.connect("127.0.0.1", port=job["port"], username=job["user"], key_filename=job["key"],
                       allow_agent=False, look_for_keys=False, timeout=10)
        try:
            sftp = client.open_sftp()
            with sftp.open(path, "rb") as fh:
                fh.read()
            tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.tmp"
            with sftp.open(tmp, "wb") as fh:
                fh.set_pipelined(True)
                fh.write(data)
            for command in (CHECK.replace("{path}", shlex.quote(tmp)), None, RELOAD,
                            f"test -s {shlex.quote(path)}"):
                if command is None:
                    sftp.posix_rename(tmp, path)
                    continue
                _, out, _ = client.exec_command(command)
                if out.channel.recv_exit_status() != 0:
                    raise RuntimeError(f"{command} failed on {path}")
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=job["workers"]) as pool:
        list(pool.map(push, job["paths"]))


def bare_run(f: Fleet, data: str, workers: int) -> float:
    job = {"port": f.server.port, "user": USER, "key": str(f.server.user_key),
           "known_hosts": str(f.server.known_hosts), "paths": [str(p) for p in f.paths], "data": data,
           "workers": workers}
    started = time.monotonic()
    subprocess.run([sys.executable, __file__, "--bare-worker", json.dumps(job)], check=True, timeout=300)
    return time.monotonic() - started


# -- ansible-playbook -----------------------------------------------------------------------------

ANSIBLE_CFG = """\
[defaults]
inventory = {dir}/inventory.ini
forks = {forks}
host_key_checking = True
gathering = explicit
retry_files_enabled = False
local_tmp = {dir}/local-tmp
remote_tmp = /tmp/.hsbench-ansible
interpreter_python = {python}
stdout_callback = default

[ssh_connection]
pipelining = True
control_path_dir = {dir}/cp
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes
"""

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  serial: {serial}
  tasks:
    - name: copy the config, checked before it replaces the live file
      ansible.builtin.copy:
        src: "{payload}"
        dest: "{{{{ conf_path }}}}"
        validate: "test -s %s"
    - name: reload
      ansible.builtin.command: "true"
    - name: health
      ansible.builtin.command: "test -s {{{{ conf_path }}}}"
      changed_when: false
"""


def ansible_run(f: Fleet, data: str, *, forks: int, serial: int | None) -> float | None:
    """Wall seconds of one ansible-playbook run (None: ansible-playbook is not installed)."""
    playbook_bin = shutil.which("ansible-playbook")
    if playbook_bin is None:
        return None
    adir = f.work / "ansible"
    shutil.rmtree(adir, ignore_errors=True)
    (adir / "cp").mkdir(parents=True)
    (adir / "ansible.cfg").write_text(ANSIBLE_CFG.format(dir=adir, forks=forks, python=SYSTEM_PYTHON,
                                                         known=f.server.known_hosts))
    hosts = [f"h{i} ansible_host=127.0.0.1 ansible_port={f.server.port} ansible_user={USER} "
             f"ansible_ssh_private_key_file={f.server.user_key} conf_path={p}" for i, p in enumerate(f.paths)]
    (adir / "inventory.ini").write_text("[fleet]\n" + "\n".join(hosts) + "\n")
    (adir / "payload.json").write_text(data)
    (adir / "deploy.yml").write_text(PLAYBOOK.format(payload=adir / "payload.json",
                                                     serial=serial if serial else "'100%'"))
    env = {**os.environ, "ANSIBLE_CONFIG": str(adir / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_HOME": str(adir / "home")}
    started = time.monotonic()
    proc = subprocess.Popen([playbook_bin, str(adir / "deploy.yml")], cwd=adir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=900)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group we created
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    finally:
        wall = time.monotonic() - started
        for sock in (adir / "cp").iterdir():  # ControlPersist masters outlive the playbook
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "dummy"], capture_output=True,
                           timeout=10, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-playbook exit {proc.returncode}: {out.decode(errors='replace')[-2000:]}")
    return wall


# -- report ---------------------------------------------------------------------------------------

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def report(title: str, hotswap: list[float], bare: list[float], ansible: list[float],
           bare_goal: float | None, ansible_goal: float) -> bool:
    """Best of each (a shared 2-core machine only ever adds noise), ratios against the same run's peers."""
    h = min(hotswap)
    print(f"{title}  [{machine()}]")
    print(f"  hotswap (whole process)  best {h:.2f}s   all {', '.join(f'{x:.2f}' for x in hotswap)}")
    ok = True
    if bare:
        b = min(bare)
        print(f"  bare paramiko script     best {b:.2f}s   all {', '.join(f'{x:.2f}' for x in bare)}")
        if bare_goal is not None:
            ok &= h / b <= bare_goal
            print(f"  hotswap / bare    = {h / b:.2f}x  (target <= {bare_goal}x) {verdict(h / b <= bare_goal)}")
        else:
            print(f"  hotswap / bare    = {h / b:.2f}x")
    if ansible:
        a = min(ansible)
        print(f"  ansible-playbook         best {a:.2f}s   all {', '.join(f'{x:.2f}' for x in ansible)}")
        ok &= h / a <= ansible_goal
        print(f"  hotswap / ansible = {h / a:.3f}x (target <= {ansible_goal}x) {verdict(h / a <= ansible_goal)}")
    else:
        print("  ansible-playbook: not run (--no-ansible, or not installed: pip install ansible-core)")
    return ok


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-worker":
        bare_worker(json.loads(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ansible-rounds", type=int, default=1)
    parser.add_argument("--no-ansible", action="store_true")
    args = parser.parse_args()
    ours: list[float] = []
    bare: list[float] = []
    ansible: list[float] = []
    with fleet(args.targets) as f:
        repo = hotswap_repo(f, "repo")
        for r in range(args.rounds):  # interleaved, so every tool sees the same machine state
            version = f"1.0.{r}"
            repo.release(f.work, version, {"service": {"name": "bench", "round": r}})
            run = hotswap_deploy(f, repo, version, "--direct")
            assert f.landed(f'"round": {r}') == args.targets, "a hotswap push did not land"
            ours.append(run.wall)
            print(f"  hotswap round {r}: {run.wall:.2f}s ({phases(run)}; CPU {run.cpu:.2f}s)", flush=True)
            bare.append(bare_run(f, f'{{"bare": {r}}}\n', args.targets))
            assert f.landed(f'"bare": {r}') == args.targets, "a bare push did not land"
            if not args.no_ansible and r < args.ansible_rounds:
                wall = ansible_run(f, f'{{"ansible": {r}}}\n', forks=args.targets, serial=None)
                if wall is not None:
                    assert f.landed(f'"ansible": {r}') == args.targets, "an ansible push did not land"
                    ansible.append(wall)
    ok = report(f"direct deploy, {args.targets} ssh targets (one sshd)", ours, bare, ansible, 1.3, 0.1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
