"""The store keeps its rules in the database: one active run per cluster, optimistic
versions, an append-only audit; and it gives back what was put in."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store.repository import Store, create_store
from bot.upgrade.errors import GiveUp, RunConflict, StaleVersion
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase, RunKind
from bot.upgrade.records import NewRun

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def new_run(cluster: str = "prod", by: str = "U0ALICE", kind: RunKind = RunKind.MINOR) -> NewRun:
    return NewRun(cluster, kind, "asm-1-22", "asm-1-23", by, {"use_tags": True}, {"restart": ["a"]})


class Ticker:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = create_store(url, clock=Ticker())
    yield s
    s.close()


def test_new_run_starts_planned_holding_its_cluster(store: Store) -> None:
    run = store.create_run(new_run())
    assert (run.phase, run.version, run.requested_by) == (Phase.PLANNED, 1, "U0ALICE")
    assert run.options == {"use_tags": True} and run.plan == {"restart": ["a"]}
    assert store.active_run("prod") == run
    assert store.get_run(run.id) == run


def test_patch_run_starts_in_patch_planned(store: Store) -> None:
    assert store.create_run(new_run(kind=RunKind.PATCH)).phase is Phase.PATCH_PLANNED


def test_second_run_on_a_cluster_is_refused_naming_the_holder(store: Store) -> None:
    first = store.create_run(new_run())
    with pytest.raises(RunConflict) as caught:
        store.create_run(new_run(by="U0BOB"))
    assert (caught.value.run_id, caught.value.holder) == (first.id, "U0ALICE")
    assert [r.id for r in store.recent_runs("prod")] == [first.id]


def test_other_clusters_are_not_blocked(store: Store) -> None:
    store.create_run(new_run("prod"))
    assert store.create_run(new_run("stage")).cluster == "stage"
    assert [r.cluster for r in store.active_runs()] == ["prod", "stage"]


def test_terminal_phase_frees_the_cluster(store: Store) -> None:
    run = store.create_run(new_run())
    store.transition(run.id, run.version, Phase.CANCELLED, "U0ALICE", "changed my mind")
    assert store.active_run("prod") is None
    assert store.create_run(new_run()).id != run.id


def test_failed_run_keeps_the_cluster(store: Store) -> None:
    run = store.create_run(new_run())
    store.transition(run.id, run.version, Phase.FAILED, "bot", "ARM said no")
    with pytest.raises(RunConflict):
        store.create_run(new_run())


def test_transition_bumps_version_and_clears_the_pause(store: Store) -> None:
    run = store.create_run(new_run())
    paused = store.set_pause(run.id, run.version, "rollout stuck", "kubectl describe")
    assert (paused.pause_reason, paused.version) == ("rollout stuck", 2)
    moved = store.transition(run.id, paused.version, Phase.STARTING, "U0BOB", "approved")
    assert (moved.phase, moved.version, moved.pause_reason) == (Phase.STARTING, 3, None)
    assert moved.updated_at > run.updated_at and moved.created_at == run.created_at


def test_stale_version_is_refused_and_changes_nothing(store: Store) -> None:
    run = store.create_run(new_run())
    store.transition(run.id, run.version, Phase.STARTING, "U0BOB", "approved")
    with pytest.raises(StaleVersion) as caught:
        store.transition(run.id, run.version, Phase.CANCELLED, "U0CAROL", "double click")
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert store.get_run(run.id).phase is Phase.STARTING


def test_transition_outside_the_table_is_refused(store: Store) -> None:
    run = store.create_run(new_run())
    with pytest.raises(GiveUp, match="cannot go from planned to completed"):
        store.transition(run.id, run.version, Phase.COMPLETED, "bot", "skip ahead")
    assert store.get_run(run.id).version == 1


def test_phase_history_records_who_why_and_when(store: Store) -> None:
    run = store.create_run(new_run())
    store.transition(run.id, 1, Phase.STARTING, "U0BOB", "approved by U0BOB")
    store.transition(run.id, 2, Phase.CANARY_READY, "bot", "istiod-asm-1-23 ready")
    history = store.history(run.id)
    assert [(h.from_phase, h.to_phase, h.by) for h in history] == [
        (None, Phase.PLANNED, "U0ALICE"),
        (Phase.PLANNED, Phase.STARTING, "U0BOB"),
        (Phase.STARTING, Phase.CANARY_READY, "bot"),
    ]
    assert history[2].why == "istiod-asm-1-23 ready"
    assert all(h.at.tzinfo is UTC for h in history)


def test_unknown_run_is_a_give_up_error(store: Store) -> None:
    with pytest.raises(GiveUp, match="There is no run 99"):
        store.get_run(99)


def test_approvals_are_bound_to_the_run_version_and_stored_once(store: Store) -> None:
    run = store.create_run(new_run())
    first = store.record_approval(run.id, "start", "U0BOB", run.version)
    again = store.record_approval(run.id, "start", "U0BOB", run.version)
    assert again == first and first.at.tzinfo is UTC
    assert store.approvals(run.id, "start", run.version) == (first,)
    store.set_pause(run.id, run.version, "a rollout is stuck", "resume when fixed")  # version 2
    assert store.approvals(run.id, "start", 2) == ()


def test_approval_of_a_stale_version_is_refused(store: Store) -> None:
    run = store.create_run(new_run())
    store.set_pause(run.id, run.version, "a rollout is stuck", "resume when fixed")
    with pytest.raises(StaleVersion):
        store.record_approval(run.id, "start", "U0BOB", run.version)


def test_audit_is_appended_and_read_back_in_order(store: Store) -> None:
    run = store.create_run(new_run())
    store.audit("U0BOB", AuditKind.APPROVED, "approved start", cluster="prod", run_id=run.id)
    store.audit("bot", AuditKind.ARM_PUT, "ARM PUT", cluster="prod", run_id=run.id,
                detail={"revisions": ["asm-1-22", "asm-1-23"], "status": 200})
    store.audit("scheduler", AuditKind.NOTE, "census", cluster="stage")
    log = store.audit_log(cluster="prod")
    assert [(e.actor, e.what) for e in log] == [("U0BOB", "approved start"), ("bot", "ARM PUT")]
    assert log[1].detail == {"revisions": ["asm-1-22", "asm-1-23"], "status": 200}
    assert [e.cluster for e in store.audit_log()] == ["prod", "prod", "stage"]


def test_audit_has_no_update_or_delete_and_the_database_refuses_them(store: Store,
                                                                     tmp_path: Path) -> None:
    store.audit("U0BOB", AuditKind.APPROVED, "approved", cluster="prod")
    readers = ("audit_log", "last_audit_id")  # and "audit" appends: nothing else touches it
    assert not [n for n in dir(Store) if "audit" in n and n not in ("audit", *readers)]
    db = sqlite3.connect(tmp_path / "bot.db")
    for sql in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(sql)
    db.close()
    assert [e.actor for e in store.audit_log()] == ["U0BOB"]


def test_slack_refs_round_trip_and_update(store: Store) -> None:
    run = store.create_run(new_run())
    assert store.slack_ref(run.id) is None
    store.set_slack_ref(run.id, "C0MESHOPS", "1700000000.000100")
    store.set_slack_ref(run.id, "C0MESHOPS", "1700000000.000100", "1700000000.000100")
    ref = store.slack_ref(run.id)
    assert ref is not None
    assert (ref.channel, ref.root_ts, ref.thread_ts) == ("C0MESHOPS", "1700000000.000100",
                                                          "1700000000.000100")


def test_step_state_round_trips_json(store: Store) -> None:
    run = store.create_run(new_run())
    note = {"revisions": ["asm-1-22", "asm-1-23"], "token": "op-1", "at": "2025-03-01T09:00Z"}
    store.put_step(run.id, "arm_put", note)
    store.put_step(run.id, "wave_2", ["default/web"])
    store.put_step(run.id, "wave_2", ["default/web", "shop/cart"])
    assert store.step(run.id, "arm_put") == note
    assert store.step(run.id, "never") is None
    assert store.steps(run.id) == {"arm_put": note, "wave_2": ["default/web", "shop/cart"]}


def test_claim_step_lets_only_the_first_caller_act(store: Store) -> None:
    run = store.create_run(new_run())
    assert store.claim_step(run.id, "arm_put", {"by": "worker-1"}) is True
    assert store.claim_step(run.id, "arm_put", {"by": "worker-2"}) is False
    assert store.step(run.id, "arm_put") == {"by": "worker-1"}


def test_state_survives_reopening_the_file(url: str) -> None:
    first = create_store(url)
    run = first.create_run(new_run())
    first.put_step(run.id, "k", 1)
    first.close()
    again = create_store(url)
    assert again.active_run("prod") == run and again.step(run.id, "k") == 1
    again.close()


def test_wal_mode_is_on_for_sqlite(store: Store, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "bot.db")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def test_naive_clock_is_refused(url: str) -> None:
    naive = create_store(url, clock=lambda: datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        naive.create_run(new_run())
    naive.close()


def test_two_engines_on_one_file_see_each_others_lock(url: str) -> None:
    a, b = create_store(url), create_store(url)
    run = a.create_run(new_run())
    with pytest.raises(RunConflict):
        b.create_run(new_run(by="U0BOB"))
    b.transition(run.id, run.version, Phase.STARTING, "U0BOB", "approved")
    with pytest.raises(StaleVersion):
        a.transition(run.id, run.version, Phase.CANCELLED, "U0ALICE", "stale card")
    a.close()
    b.close()


def _race(url: str, who: str, barrier: multiprocessing.synchronize.Barrier,
          results: multiprocessing.Queue[tuple[str, str, int]]) -> None:
    store = create_store(url)
    barrier.wait()
    try:
        run = store.create_run(new_run(by=who))
        results.put((who, "won", run.id))
    except RunConflict as conflict:
        results.put((who, f"lost to {conflict.holder}", conflict.run_id))
    finally:
        store.close()


def test_two_processes_racing_for_one_cluster_only_one_wins(url: str) -> None:
    create_store(url).close()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(url, who, barrier, results))
             for who in ("U0ALICE", "U0BOB")]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    winners = [o for o in outcomes if o[1] == "won"]
    assert len(winners) == 1
    winner, _, run_id = winners[0]
    loser = next(o for o in outcomes if o[1] != "won")
    assert loser[1:] == (f"lost to {winner}", run_id)
    check = create_store(url)
    assert [r.id for r in check.active_runs()] == [run_id]
    check.close()
