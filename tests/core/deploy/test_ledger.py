"""The ledger: records as commits on one ref per profile, read newest first, shared through origin."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from ledger_support import PROFILE, git

from hotswap_cli.core.deploy import ledger
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.runner.results import DeployResult, InstanceOutcome


def record(version: str, status: str = "completed", profile: str = PROFILE, **extra: object) -> dict[str, object]:
    return {"kind": "deploy", "profile": profile, "version": version, "status": status, **extra}


def test_records_are_read_back_newest_first_with_generated_ids(local_repo: GitRepo) -> None:
    first = ledger.append_record(local_repo, record("1.0.0"))
    second = ledger.append_record(local_repo, record("1.1.0", "reverted", reason="error rate 4.0% > 1.0%"))

    records = ledger.read_records(local_repo)

    assert [r["id"] for r in records] == [second, first]
    assert first.startswith("deploy-") and first != second
    assert records[0]["reason"] == "error rate 4.0% > 1.0%"
    assert [r["version"] for r in ledger.read_records(local_repo, limit=1)] == ["1.1.0"]


def test_appending_never_touches_branches_index_or_work_tree(local_repo: GitRepo) -> None:
    head = git(local_repo.top, "rev-parse", "HEAD")
    (local_repo.top / "edited.txt").write_text("work in progress\n")
    git(local_repo.top, "add", "edited.txt")

    ledger.append_record(local_repo, record("1.0.0"))

    assert git(local_repo.top, "rev-parse", "HEAD") == head
    assert git(local_repo.top, "status", "--porcelain") == "A  edited.txt\n"
    assert git(local_repo.top, "for-each-ref", "--format=%(refname)") == \
        f"refs/heads/main\nrefs/hotswap/ledger/{PROFILE}\n"
    assert git(local_repo.top, "show", f"refs/hotswap/ledger/{PROFILE}:record.json").startswith("{")


def test_profile_filter_is_exact_and_limit_applies_after_it(local_repo: GitRepo) -> None:
    ledger.append_record(local_repo, record("1.0.0"))
    ledger.append_record(local_repo, record("9.9.9", profile=f"{PROFILE}-eu"))
    ledger.append_record(local_repo, record("1.1.0"))
    ledger.append_record(local_repo, record("8.8.8", profile="order-worker.staging"))

    assert [r["version"] for r in ledger.read_records(local_repo, PROFILE)] == ["1.1.0", "1.0.0"]
    assert [r["version"] for r in ledger.read_records(local_repo, PROFILE, limit=1)] == ["1.1.0"]
    assert ledger.read_records(local_repo, "nothing.here") == []


def test_last_successful_skips_failed_runs(local_repo: GitRepo) -> None:
    assert ledger.last_successful(local_repo, PROFILE) is None
    ledger.append_record(local_repo, record("1.0.0"))
    ledger.append_record(local_repo, record("1.1.0", "reverted"))
    ledger.append_record(local_repo, record("1.2.0", "revert_failed"))

    last = ledger.last_successful(local_repo, PROFILE)

    assert last is not None and last["version"] == "1.0.0"
    assert ledger.last_successful(local_repo, PROFILE, kind="rollback") is None


def test_make_record_takes_the_runner_result_and_rebases_its_monotonic_timings() -> None:
    result = DeployResult(
        profile=PROFILE, version="1.4.0", strategy="canary", status="reverted", reason="p99 900ms > 500ms",
        instances=(InstanceOutcome("web-1", "reverted", phase=1, touched=True, started_at=1000.0,
                                   finished_at=1002.5, reverted_at=1010.0),
                   InstanceOutcome("web-2", "pending", phase=2)),
        failed_phase=1, started_at=1000.0, finished_at=1011.0)

    rec = ledger.make_record(result.to_dict(), sha256="ab" * 32, who="Ann <ann@example.com>",
                             started_at=1_700_000_000.0, finished_at=1_700_000_011.0,
                             traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")

    assert rec["id"].startswith("deploy-")
    assert (rec["profile"], rec["version"], rec["strategy"], rec["status"], rec["exit_code"]) == \
        (PROFILE, "1.4.0", "canary", "reverted", 6)
    assert rec["started_at"] == "2023-11-14T22:13:20Z" and rec["finished_at"] == "2023-11-14T22:13:31Z"
    assert rec["instances"][0]["reverted_at"] == "2023-11-14T22:13:30Z"
    assert rec["instances"][1]["started_at"] is None
    assert rec["reason"] == "p99 900ms > 500ms" and rec["duration_s"] == 11.0


def test_diverged_ledgers_of_two_clones_both_survive_push(clone: Callable[[str], GitRepo]) -> None:
    a, b = clone("a"), clone("b")
    ida = ledger.append_record(a, record("1.0.0"))
    idb = ledger.append_record(b, record("1.1.0"))

    assert ledger.push_ledger(a) and ledger.push_ledger(b)  # b is rejected once, rebases, pushes
    ledger.fetch_ledger(a)

    assert [r["id"] for r in ledger.read_records(a)] == [idb, ida]
    assert [r["id"] for r in ledger.read_records(b)] == [idb, ida]


def test_fetch_into_a_fresh_clone_and_read_offline(clone: Callable[[str], GitRepo]) -> None:
    a = clone("a")
    ident = ledger.append_record(a, record("1.0.0"))
    ledger.push_ledger(a)
    c = clone("c")
    assert ledger.read_records(c) == []

    assert ledger.fetch_ledger(c) is True
    git(c.top, "remote", "remove", "origin")

    assert [r["id"] for r in ledger.read_records(c)] == [ident]
    assert ledger.fetch_ledger(c) is False and ledger.push_ledger(c) is False


def test_racing_pushes_from_eight_clones_lose_no_record(clone: Callable[[str], GitRepo]) -> None:
    clones = [clone(f"c{i}") for i in range(8)]

    def deploy(i: int) -> list[str]:
        ids = [ledger.append_record(clones[i], record(f"1.{i}.{n}")) for n in range(2)]
        ledger.push_ledger(clones[i])
        return ids

    with ThreadPoolExecutor(8) as pool:
        written = {i for ids in pool.map(deploy, range(8)) for i in ids}
    reader = clone("reader")
    ledger.fetch_ledger(reader)

    read = [r["id"] for r in ledger.read_records(reader)]
    assert len(read) == 16 and set(read) == written


def test_record_and_push_keeps_the_record_when_origin_is_unreachable(clone: Callable[[str], GitRepo],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ledger.PUSH_DEADLINE_ENV, "0.5")
    a = clone("a")
    git(a.top, "remote", "set-url", "origin", str(a.top.parent / "gone.git"))

    ident, problem = ledger.record_and_push(a, record("1.0.0"))

    assert problem is not None
    assert problem.startswith(f"the ledger record(s) of {PROFILE} did not reach origin within 0.5s: ")
    assert "gone.git" in problem and "hotswap deployments --push" in problem
    assert ledger.pending(a) == [PROFILE]
    assert [r["id"] for r in ledger.read_records(a)] == [ident]


def test_a_record_reads_as_json_with_one_line_per_instance(local_repo: GitRepo) -> None:
    """Records are written by json's C encoder (indent= would take the pure-Python one), one line
    per key and per instance, and read back as written, non-ASCII text included."""
    instances = [{"instance": f"web-{i}", "state": "healthy", "note": "caf\u00e9 \u2713"} for i in range(3)]
    ledger.append_record(local_repo, record("2.0.0", instances=instances, empty={}, nested={"a": {"b": [1]}}))
    text = local_repo.git("show", f"{ledger.ledger_ref(PROFILE)}:{ledger.RECORD_FILE}").stdout
    assert text.isascii()
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert [line.strip().rstrip(",") for line in lines if "web-" in line] == [
        '{"instance": "web-' + str(i) + '", "state": "healthy", "note": "caf\\u00e9 \\u2713"}' for i in range(3)]
    assert '  "empty": {},' in lines and '    "a": {"b": [1]}' in lines
    [back] = ledger.read_records(local_repo, PROFILE)
    assert back["instances"] == instances and back["empty"] == {} and back["nested"] == {"a": {"b": [1]}}


def test_the_journal_as_a_dict_is_what_asdict_gives() -> None:
    from dataclasses import asdict

    from hotswap_cli.core.deploy.journal import Before, Entry, Journal

    journal = Journal("id", "deploy", PROFILE, "2.0.0", "ab" * 32, "canary", "me", "host", 1, "t0", "t1",
                      paused={"phase": 1, "reason": "step"}, controls=[{"action": "promote", "by": "you"}],
                      instances={"web-1": Entry(Before(True, "cd" * 32, "1.0.0"), "healthy", {"ok": True}),
                                 "web-2": Entry(Before(False))})
    assert journal.to_dict() == asdict(journal)


def _fleet_record(version: str, states: list[str]) -> dict[str, object]:
    instances = [{"instance": f"web-{i}", "state": s, "previous_sha256": "ab" * 32} for i, s in enumerate(states)]
    return record(version, "completed" if "unknown" not in states else "revert_failed", instances=instances,
                  phases=[{"number": 1, "instances": [i["instance"] for i in instances]}],
                  verdicts=[{"phase": 1, "instances": instances}], timeline={"states": {}}, sha256="cd" * 32)


def test_readers_that_need_no_instance_read_summaries(local_repo: GitRepo) -> None:
    """A 1000-instance record is ~0.7 MB: status and deploy read every record of the profile, so
    each new record carries its summary (no per-instance parts), and they read that."""
    ledger.append_record(local_repo, _fleet_record("1.0.0", ["healthy"] * 2000))
    ledger.append_record(local_repo, _fleet_record("1.1.0", ["reverted", "unknown", "unknown"]))

    whole = ledger.read_records(local_repo, PROFILE)
    brief = ledger.read_records(local_repo, PROFILE, summaries=True)

    assert [len(r["instances"]) for r in whole] == [3, 2000]  # readers of whole records see no change
    assert [r["version"] for r in brief] == ["1.1.0", "1.0.0"] and brief[1]["sha256"] == "cd" * 32
    assert all(set(ledger.PER_INSTANCE).isdisjoint(r) for r in brief)
    assert [r["instance_count"] for r in brief] == [3, 2000]
    assert [r["unknown_instances"] for r in brief] == [["web-1", "web-2"], []]
    stored = git(local_repo.top, "show", f"refs/hotswap/ledger/{PROFILE}~1:summary.json")
    assert len(stored) < 1000 and "web-1999" not in stored  # the summary is not the record's size


def test_records_written_before_summaries_are_summarised_on_read(local_repo: GitRepo) -> None:
    """A ledger from an older hotswap (and origin's, pushed by one) has record.json only."""
    ledger.append_record(local_repo, _fleet_record("1.0.0", ["healthy", "unknown"]))
    old = ledger.document_text({"id": "deploy-old", **_fleet_record("0.9.0", ["healthy"])})
    blob = git(local_repo.top, "hash-object", "-w", "--stdin", input=old).strip()
    tree = git(local_repo.top, "mktree", input=f"100644 blob {blob}\trecord.json\n").strip()
    ref = f"refs/hotswap/ledger/{PROFILE}"
    parent = git(local_repo.top, "rev-parse", ref).strip()
    made = git(local_repo.top, "commit-tree", tree, "-p", parent, "-m", f"deploy {PROFILE} 0.9.0: completed").strip()
    git(local_repo.top, "update-ref", ref, made)

    brief = ledger.read_records(local_repo, PROFILE, summaries=True)

    assert [(r["version"], r["instance_count"], r["unknown_instances"]) for r in brief] == \
        [("0.9.0", 1, []), ("1.0.0", 2, ["web-1"])]
    assert "instances" not in brief[0] and len(ledger.read_records(local_repo, PROFILE)[0]["instances"]) == 1


def test_a_summary_of_a_run_that_left_an_instance_unknown_does_not_settle_its_journal() -> None:
    """journal.settled_by on a summary: an instance the run lost (state unknown) keeps the journal
    open for `hotswap rollback`, as the whole record does."""
    from hotswap_cli.core.deploy.journal import settled_by

    for states, settled in ((["healthy", "reverted"], True), (["reverted", "unknown"], False)):
        whole = {**_fleet_record("1.0.0", states), "status": "reverted"}
        assert settled_by(whole) is settled
        assert settled_by(ledger.summary_of(whole)) is settled


def test_a_ledger_commit_holding_no_record_object_is_skipped(local_repo: GitRepo) -> None:
    """Anyone who can push a ledger ref can put any JSON there: a list or a string where a record
    belongs is passed over by every reader (whole records and summaries), not a traceback."""
    ledger.append_record(local_repo, record("1.0.0"))
    ref = f"refs/hotswap/ledger/{PROFILE}"
    for text, name in (('["not", "a", "record"]\n', "record.json"), ('"nope"\n', "summary.json")):
        blob = git(local_repo.top, "hash-object", "-w", "--stdin", input=text).strip()
        tree = git(local_repo.top, "mktree", input=f"100644 blob {blob}\t{name}\n").strip()
        parent = git(local_repo.top, "rev-parse", ref).strip()
        subject = f"deploy {PROFILE} 6.6.6: completed"
        made = git(local_repo.top, "commit-tree", tree, "-p", parent, "-m", subject).strip()
        git(local_repo.top, "update-ref", ref, made)

    assert [r["version"] for r in ledger.read_records(local_repo, PROFILE)] == ["1.0.0"]
    assert [r["version"] for r in ledger.read_records(local_repo, PROFILE, summaries=True)] == ["1.0.0"]


def test_a_fetch_says_how_many_records_it_brought_and_never_counts_this_clones_own(
        clone: Callable[[str], GitRepo]) -> None:
    from hotswap_cli.core.versions import remote

    said: list[str] = []
    previous = remote.set_notice_sink(said.append)
    try:
        a, c = clone("a"), clone("c")
        for version in ("1.0.0", "1.1.0"):
            ledger.append_record(a, record(version))
        ledger.append_record(a, record("2.0.0", profile="order-worker.staging"))
        assert ledger.push_ledger(a)
        assert ledger.fetch_ledger(c)
        assert said == [f"fetched 3 deployment records from origin's ledger (order-worker.staging, {PROFILE})"]
        ledger.fetch_ledger(c)
        ledger.append_record(c, record("1.2.0"))
        assert ledger.push_ledger(c)
        ledger.fetch_ledger(c)  # its own record, back from origin: nothing new to this clone
        assert len(said) == 1
        ledger.append_record(a, record("1.3.0"))
        assert ledger.push_ledger(a)  # rejected once: a fetches c's record (and says so), rebases, pushes
        assert said[1:] == [f"fetched 1 deployment record from origin's ledger ({PROFILE})"]
        del said[:]
        ledger.fetch_ledger(c)
        assert said == [f"fetched 1 deployment record from origin's ledger ({PROFILE})"]
    finally:
        remote.set_notice_sink(previous)
