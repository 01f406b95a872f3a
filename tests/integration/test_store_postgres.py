"""The store's rules hold on a real PostgreSQL, between processes, as they do on SQLite: one
active run per cluster, optimistic versions, an append-only audit; and the scheduler's jobs
live in the same database, readable by a replica that does not run them."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from bot.cli.sandbox import sandbox_config
from bot.runtime.scheduler import Scheduler, check_id
from bot.store.repository import Store, create_store
from bot.upgrade.errors import RunConflict, StaleVersion
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Phase, RunKind
from bot.upgrade.records import NewRun
from tests.e2e.slack_harness import wait_until
from tests.integration.postgres_env import postgres_url

__all__ = ["postgres_url"]  # the fixture
CLUSTERS = [f"aks-{i}" for i in range(12)]


def new_run(cluster: str = "prod", by: str = "U0ALICE") -> NewRun:
    return NewRun(cluster, RunKind.MINOR, "asm-1-22", "asm-1-23", by, {"to": None},
                  {"restart": ["bookinfo/reviews"]})


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    s = create_store(postgres_url)
    yield s
    s.close()


def _race_for_clusters(url: str, who: str, barrier: multiprocessing.synchronize.Barrier,
                       results: multiprocessing.Queue[tuple[str, str, str]]) -> None:
    store = create_store(url)  # both processes install the schema at once, too
    barrier.wait()
    try:
        for cluster in CLUSTERS:
            try:
                store.create_run(new_run(cluster, who))
                results.put((cluster, who, "won"))
            except RunConflict as conflict:
                results.put((cluster, who, f"lost to {conflict.holder}"))
    finally:
        store.close()


def test_two_processes_racing_for_each_cluster_leave_one_run_per_cluster(
        postgres_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race_for_clusters, args=(postgres_url, who, barrier, results))
             for who in ("U0ALICE", "U0BOB")]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(2 * len(CLUSTERS))]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    check = create_store(postgres_url)
    active = {r.cluster: r.requested_by for r in check.active_runs()}
    check.close()
    assert sorted(active) == sorted(CLUSTERS)
    for cluster in CLUSTERS:
        mine = sorted(o[1:] for o in outcomes if o[0] == cluster)
        winner = active[cluster]
        loser = "U0BOB" if winner == "U0ALICE" else "U0ALICE"
        assert mine == sorted([(winner, "won"), (loser, f"lost to {winner}")])


def test_concurrent_clicks_on_one_version_move_the_run_once(postgres_url: str) -> None:
    stores = [create_store(postgres_url) for _ in range(4)]
    run = stores[0].create_run(new_run())
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def click(s: Store, who: str) -> None:
        barrier.wait()
        try:
            s.transition(run.id, run.version, Phase.STARTING, who, "start approved")
            outcomes.append("moved")
        except StaleVersion:
            outcomes.append("stale")

    threads = [threading.Thread(target=click, args=(s, f"U0USER{i}"))
               for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    after = stores[1].get_run(run.id)
    assert sorted(outcomes) == ["moved", "stale", "stale", "stale"]
    assert (after.phase, after.version) == (Phase.STARTING, run.version + 1)
    assert [c.to_phase for c in stores[2].history(run.id)] == [Phase.PLANNED, Phase.STARTING]
    for s in stores:
        s.close()


def test_a_stale_version_changes_nothing(store: Store) -> None:
    run = store.create_run(new_run())
    moved = store.transition(run.id, run.version, Phase.STARTING, "U0BOB", "approved")
    with pytest.raises(StaleVersion):
        store.transition(run.id, run.version, Phase.CANCELLED, "U0ALICE", "old card")
    with pytest.raises(StaleVersion):
        store.record_approval(run.id, "start", "U0CAROL", run.version)
    assert store.get_run(run.id) == moved


def test_the_audit_is_append_only_in_postgresql_itself(store: Store, postgres_url: str) -> None:
    store.audit("U0BOB", AuditKind.APPROVED, "approved start", cluster="prod",
                detail={"run_version": 1})
    store.audit("bot", AuditKind.ARM_PUT, "ARM PUT", cluster="prod",
                detail={"revisions": ["asm-1-22", "asm-1-23"]})
    raw = create_engine(postgres_url)
    for sql in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
            conn.execute(text(sql))
    raw.dispose()
    log = store.audit_log()
    assert [(e.actor, e.what) for e in log] == [("U0BOB", "approved start"), ("bot", "ARM PUT")]
    assert log[1].detail == {"revisions": ["asm-1-22", "asm-1-23"]}
    assert log[0].at.tzinfo is not None and abs(log[0].at - datetime.now(UTC)) < timedelta(1)


def test_claims_and_upserts_from_many_connections_agree(postgres_url: str) -> None:
    stores = [create_store(postgres_url) for _ in range(4)]
    run = stores[0].create_run(new_run())
    barrier = threading.Barrier(len(stores))
    claims: list[bool] = []

    def race(s: Store, i: int) -> None:
        barrier.wait()
        claims.append(s.claim_step(run.id, "slack.card_claim", i))
        s.put_step(run.id, "slack.audit_cursor", i)  # a first write by all at once
        s.set_slack_ref(run.id, "C0MESHOPS", "1700000000.000100")

    threads = [threading.Thread(target=race, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(claims) == [False, False, False, True]
    assert stores[1].step(run.id, "slack.audit_cursor") in range(4)
    ref = stores[2].slack_ref(run.id)
    assert ref is not None and ref.root_ts == "1700000000.000100"
    for s in stores:
        s.close()


def test_scheduler_jobs_live_in_postgresql_and_a_paused_replica_reads_them(
        postgres_url: str, store: Store) -> None:
    described = {"clusters": [{"name": "prod", "subscription_id":
                               "00000000-0000-0000-0000-000000000000",
                               "resource_group": "rg"}]}
    # 4 h of soak at 1x: a check every hour, so none runs again while the test reads
    config = sandbox_config(described, 4 * 3600.0, 1.0, postgres_url)
    run = store.create_run(new_run())
    run = store.transition(run.id, run.version, Phase.STARTING, "U0BOB", "approved")
    for phase in (Phase.CANARY_READY, Phase.ROLLING, Phase.VERIFYING):
        run = store.transition(run.id, run.version, phase, "bot", "step")
    leader, follower = Scheduler(config, postgres_url), Scheduler(config, postgres_url)
    follower.start(paused=True)
    leader.start()
    try:
        leader.reconcile(run, datetime.now(UTC))
        # The first check is due at once; the leader runs it and moves the next to an hour
        # later, so two reads in a row cannot straddle a run and disagree.
        after_first = wait_until(
            lambda: (at := leader.next_check_at(run.id)) is not None
            and at > datetime.now(UTC) + timedelta(minutes=30) and at,
            20, "the leader to run the first check")
        assert follower.next_check_at(run.id) == after_first
        assert follower.aps.get_job(check_id(run.id)) is not None
    finally:
        leader.shutdown()
        follower.shutdown()
