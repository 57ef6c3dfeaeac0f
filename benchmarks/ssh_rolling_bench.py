"""Rolling deploy, batch 1, no bake, over 10 ssh targets: the whole `hotswap deploy` process vs
ansible-playbook with `serial: 1` (forks 10, pipelining, ControlPersist) vs a bare paramiko script
doing one target after another, measured side by side in one run.

Same fleet and steps as ssh_push_bench.py (one sshd on 127.0.0.1, a clean-shell user, read, upload,
`test -s` check, rename, `true` reload, `test -s` health on the target); hotswap also samples each
batch's health twice after its push, for the gate (a baseline look before it is skipped: with one
check probe and no bake none could count, docs/deploy.md).

Target (issue 15): hotswap <= 0.15x ansible's `serial: 1`. Needs root (creates the user hsbench).

    python benchmarks/ssh_rolling_bench.py [--targets 10] [--rounds 3] [--no-ansible]
"""

from __future__ import annotations

import argparse
import sys

from ssh_push_bench import ansible_run, bare_run, fleet, hotswap_deploy, hotswap_repo, phases, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10)
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
            run = hotswap_deploy(f, repo, version, "--rolling", "--batch", "1", "--bake", "0s")
            assert f.landed(f'"round": {r}') == args.targets, "a hotswap push did not land"
            ours.append(run.wall)
            print(f"  hotswap round {r}: {run.wall:.2f}s ({phases(run)}; CPU {run.cpu:.2f}s)", flush=True)
            bare.append(bare_run(f, f'{{"bare": {r}}}\n', 1))
            assert f.landed(f'"bare": {r}') == args.targets, "a bare push did not land"
            if not args.no_ansible and r < args.ansible_rounds:
                wall = ansible_run(f, f'{{"ansible": {r}}}\n', forks=args.targets, serial=1)
                if wall is not None:
                    assert f.landed(f'"ansible": {r}') == args.targets, "an ansible push did not land"
                    ansible.append(wall)
    ok = report(f"rolling --batch 1, no bake, {args.targets} ssh targets (one sshd)", ours, bare, ansible,
                None, 0.15)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
