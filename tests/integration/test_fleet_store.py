"""Fleet runs keep the store's rules in the database, on SQLite and on PostgreSQL: one active
fleet run per fleet, optimistic versions with their audit in the same transaction, members and
cursors changed only from the value their caller saw, once-only approvals and card claims, and
an audit the database itself refuses to edit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from bot.fleet.runs import FleetPhase, Member, MemberState
from bot.store.fleets import FleetConflict, FleetSlack, FleetStore
from bot.store.repository import Store, create_store
from bot.upgrade.errors import GiveUp, StaleVersion
from bot.upgrade.phases import RunKind
from bot.upgrade.records import NewRun
from tests.integration.postgres_env import fresh_database

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MEMBERS = (Member("dev-b", 0, MemberState.PENDING),
           Member("dev-a", 0, MemberState.AT_TARGET, reason="already on asm-1-24"),
           Member("prod-a", 1, MemberState.SKIPPED, reason="upgrade Kubernetes first"),
           Member("prod-b", 1, MemberState.PENDING))
_T = TypeVar("_T")


class Ticker:
    """One clock for every store of a test (they stand for replicas sharing real time)."""

    def __init__(self) -> None:
        self.now, self._lock = T0, threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=1)
            return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, and a fresh PostgreSQL database when MESH_UPGRADE_TEST_POSTGRES_URL is
    set (skipped otherwise, failed in CI: see postgres_env.py)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/s.db"
        return
    with fresh_database() as database:
        yield database


@pytest.fixture
def opened(url: str) -> Iterator[Callable[[], Store]]:
    """Opens stores on the one database (as replicas would), closing them all at the end."""
    stores: list[Store] = []
    clock = Ticker()

    def open_one() -> Store:
        stores.append(create_store(url, clock=clock))
        return stores[-1]

    yield open_one
    for s in stores:
        s.close()


@pytest.fixture
def store(opened: Callable[[], Store]) -> Store:
    return opened()


@pytest.fixture
def fleets(store: Store) -> FleetStore:
    return store.fleets


def race(calls: list[Callable[[], _T]]) -> list[_T]:
    """Run the calls in threads released together; their results in call order (the first
    error a thread raised is raised here, so the test fails on it and not on a missing result)."""
    barrier = threading.Barrier(len(calls))
    results: dict[int, _T] = {}
    errors: list[BaseException] = []

    def go(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as error:  # handed to the test's thread
            errors.append(error)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(calls))]


# --- one active fleet run per fleet -----------------------------------------------------------


def test_a_new_fleet_run_starts_in_its_first_ring_with_its_members(fleets: FleetStore) -> None:
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    assert (run.phase, run.ring, run.version, run.requested_by) == (
        FleetPhase.RUNNING, 0, 1, "U0ALICE")
    assert run.created_at == run.updated_at and run.created_at.tzinfo is not None
    assert fleets.get(run.id) == run and fleets.active("global") == run
    assert fleets.members(run.id) == MEMBERS  # in the fleet's order, not the clusters' names


def test_a_second_fleet_run_is_refused_naming_the_holder(fleets: FleetStore) -> None:
    held = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    with pytest.raises(FleetConflict) as refused:
        fleets.create("global", "asm-1-23", "U0BOB", MEMBERS[:1])
    assert f"fleet run {held.id}" in str(refused.value) and "<@U0ALICE>" in str(refused.value)
    assert isinstance(refused.value, GiveUp)
    assert fleets.recent("global") == (held,)  # the refused one left nothing behind
    assert fleets.members(held.id) == MEMBERS


def test_other_fleets_are_not_blocked(fleets: FleetStore) -> None:
    first = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    other = fleets.create("europe", "asm-1-24", "U0BOB", (Member("eu-1", 0, MemberState.PENDING),))
    assert fleets.active_runs() == (first, other)
    assert fleets.recent("europe") == (other,)


@pytest.mark.parametrize("end", [FleetPhase.COMPLETED, FleetPhase.CANCELLED])
def test_a_finished_fleet_run_frees_the_fleet(fleets: FleetStore, end: FleetPhase) -> None:
    first = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    ended = fleets.move(first.id, first.version, end, note="done")
    assert ended.over and fleets.active("global") is None and fleets.active_runs() == ()
    again = fleets.create("global", "asm-1-25", "U0BOB", MEMBERS)
    assert fleets.active("global") == again and again.id != first.id
    assert fleets.recent("global") == (again, ended)
    assert fleets.recent("global", limit=1) == (again,)


def test_a_stopped_or_paused_fleet_run_keeps_the_fleet(fleets: FleetStore) -> None:
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    run = fleets.move(run.id, run.version, FleetPhase.STOPPED, note="dev-b: its run failed")
    run = fleets.move(run.id, run.version, FleetPhase.PAUSED, note="U0BOB paused it")
    with pytest.raises(FleetConflict):
        fleets.create("global", "asm-1-24", "U0BOB", MEMBERS)
    assert fleets.active("global") == run


def test_an_unknown_fleet_run_is_a_give_up_error(fleets: FleetStore) -> None:
    with pytest.raises(GiveUp, match="no fleet run 999"):
        fleets.get(999)


# --- moves: optimistic versions, audit in the same transaction --------------------------------


def test_a_move_bumps_the_version_and_writes_its_audit(fleets: FleetStore) -> None:
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    until = T0 + timedelta(hours=2)
    soaking = fleets.move(run.id, run.version, FleetPhase.SOAKING, soak_until=until,
                          audit=[("bot", "soak", "ring dev is done", {"until": until.isoformat()})])
    assert (soaking.phase, soaking.version, soaking.soak_until) == (FleetPhase.SOAKING, 2, until)
    assert soaking.updated_at > run.updated_at and fleets.get(run.id) == soaking
    asked = fleets.move(run.id, soaking.version, FleetPhase.AWAITING_PROMOTION, asked_at=until)
    promoted = fleets.move(run.id, asked.version, FleetPhase.RUNNING, ring=1)
    assert (asked.asked_at, promoted.ring, promoted.version) == (until, 1, 4)
    log = fleets.audit_log(run.id)
    assert [(e.actor, e.kind, e.what, e.detail) for e in log] == [
        ("bot", "soak", "ring dev is done", {"until": until.isoformat()})]
    assert log[0].at == soaking.updated_at


def test_a_stale_version_changes_nothing_and_writes_no_audit(fleets: FleetStore) -> None:
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    moved = fleets.move(run.id, run.version, FleetPhase.PAUSED, note="U0BOB paused it",
                        audit=[("U0BOB", "pause", "paused", {})])
    with pytest.raises(StaleVersion) as stale:
        fleets.move(run.id, run.version, FleetPhase.CANCELLED, note="old card",
                    audit=[("U0CAROL", "cancel", "cancelled", {"from": "old card"})])
    assert (stale.value.expected, stale.value.actual) == (1, 2)
    assert fleets.get(run.id) == moved and fleets.active("global") == moved  # not freed
    assert [e.actor for e in fleets.audit_log(run.id)] == ["U0BOB"]


def test_concurrent_moves_from_one_version_move_the_run_once(
        opened: Callable[[], Store]) -> None:
    stores = [opened().fleets for _ in range(4)]
    run = stores[0].create("global", "asm-1-24", "U0ALICE", MEMBERS)

    def cancel(fleets: FleetStore, who: str) -> Callable[[], str]:
        def go() -> str:
            try:
                fleets.move(run.id, run.version, FleetPhase.CANCELLED,
                            audit=[(who, "cancel", "cancelled", {})])
                return "moved"
            except StaleVersion:
                return "stale"
        return go

    outcomes = race([cancel(f, f"U0USER{i}") for i, f in enumerate(stores)])
    assert sorted(outcomes) == ["moved", "stale", "stale", "stale"]
    assert stores[1].get(run.id).version == run.version + 1
    assert len(stores[2].audit_log(run.id)) == 1


# --- members ----------------------------------------------------------------------------------


def test_a_member_changes_only_from_the_state_its_caller_saw(store: Store,
                                                             fleets: FleetStore) -> None:
    cluster_run = store.create_run(NewRun("dev-b", RunKind.MINOR, "asm-1-23", "asm-1-24",
                                          "U0ALICE", {}, {}))
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    started = Member("dev-b", 0, MemberState.RUNNING, cluster_run.id)
    assert fleets.set_member(run.id, MemberState.PENDING, started) is True
    finished = Member("dev-b", 0, MemberState.COMPLETED, cluster_run.id, "", T0)
    assert fleets.set_member(run.id, MemberState.PENDING, finished) is False  # it moved on
    assert fleets.members(run.id)[0] == started
    assert fleets.set_member(run.id, MemberState.RUNNING, finished) is True
    assert fleets.members(run.id) == (finished, *MEMBERS[1:])


def test_a_member_of_another_fleet_run_is_not_touched(fleets: FleetStore) -> None:
    first = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    first = fleets.move(first.id, first.version, FleetPhase.CANCELLED)
    second = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    assert fleets.set_member(second.id, MemberState.PENDING,
                             Member("dev-b", 0, MemberState.SKIPPED, reason="by hand")) is True
    assert fleets.members(first.id) == MEMBERS
    assert fleets.set_member(second.id, MemberState.PENDING,
                             Member("nowhere", 0, MemberState.RUNNING)) is False


def test_two_writers_from_the_same_state_only_one_wins(opened: Callable[[], Store]) -> None:
    a, b = opened().fleets, opened().fleets
    run = a.create("global", "asm-1-24", "U0ALICE", MEMBERS)

    def start(fleets: FleetStore, who: str) -> Callable[[], bool]:
        return lambda: fleets.set_member(
            run.id, MemberState.PENDING, Member("dev-b", 0, MemberState.RUNNING, reason=who))

    won = race([start(a, "replica-a"), start(b, "replica-b")])
    assert sorted(won) == [False, True]
    winner = "replica-a" if won[0] else "replica-b"
    assert a.members(run.id)[0] == Member("dev-b", 0, MemberState.RUNNING, reason=winner)


# --- promotion approvals ----------------------------------------------------------------------


def test_an_approval_counts_once_per_user_and_request(fleets: FleetStore) -> None:
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    asked = T0 + timedelta(hours=1, microseconds=250)
    again = asked + timedelta(hours=1)
    assert fleets.approve(run.id, 1, asked, "U0BOB") is True
    assert fleets.approve(run.id, 1, asked, "U0BOB") is False
    assert fleets.approve(run.id, 1, asked, "U0CAROL") is True
    assert fleets.approve(run.id, 1, again, "U0BOB") is True  # a new request: a new approval
    assert [a.user_id for a in fleets.approvals(run.id, 1, asked)] == ["U0BOB", "U0CAROL"]
    assert [a.user_id for a in fleets.approvals(run.id, 1, again)] == ["U0BOB"]
    assert fleets.approvals(run.id, 2, asked) == ()
    first = fleets.approvals(run.id, 1, asked)[0]
    assert first.at.tzinfo is not None and first.at > T0


def test_approvals_racing_for_one_user_store_one(opened: Callable[[], Store]) -> None:
    stores = [opened().fleets for _ in range(3)]
    run = stores[0].create("global", "asm-1-24", "U0ALICE", MEMBERS)
    def approve(fleets: FleetStore) -> Callable[[], bool]:
        return lambda: fleets.approve(run.id, 1, T0, "U0BOB")

    won = race([approve(f) for f in stores])
    assert sorted(won) == [False, False, True]
    assert [a.user_id for a in stores[0].approvals(run.id, 1, T0)] == ["U0BOB"]


# --- the audit --------------------------------------------------------------------------------


def test_the_audit_reads_back_in_order_after_a_given_entry(fleets: FleetStore) -> None:
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    other = fleets.create("europe", "asm-1-24", "U0BOB", MEMBERS)
    fleets.audit(run.id, "U0ALICE", "start", "started", {"rings": ["dev", "prod"]})
    fleets.audit(other.id, "U0BOB", "start", "other fleet")
    run = fleets.move(run.id, run.version, FleetPhase.PAUSED,
                      audit=[("U0BOB", "pause", "paused", {}), ("bot", "note", "held", {})])
    fleets.audit(run.id, "bot", "note", "resumed")
    log = fleets.audit_log(run.id)
    assert [e.what for e in log] == ["started", "paused", "held", "resumed"]
    assert [e.id for e in log] == sorted(e.id for e in log)
    assert log[0].detail == {"rings": ["dev", "prod"]} and log[1].detail == {}
    assert [e.what for e in fleets.audit_log(run.id, after=log[1].id)] == ["held", "resumed"]
    assert fleets.audit_log(run.id, after=log[-1].id) == ()
    assert [e.what for e in fleets.audit_log(other.id)] == ["other fleet"]


def test_the_database_refuses_to_edit_the_fleet_audit(fleets: FleetStore, url: str) -> None:
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    fleets.audit(run.id, "U0BOB", "promote", "approved promotion", {"ring": 1})
    before = fleets.audit_log(run.id)
    raw = create_engine(url)
    try:
        for sql in ("UPDATE fleet_audit SET actor = 'someone else'", "DELETE FROM fleet_audit"):
            with pytest.raises(DBAPIError, match="append-only"), raw.begin() as conn:
                conn.execute(text(sql))
    finally:
        raw.dispose()
    assert fleets.audit_log(run.id) == before


# --- the card ---------------------------------------------------------------------------------


def test_the_card_is_claimed_once_then_posted(opened: Callable[[], Store]) -> None:
    a, b = opened().fleets, opened().fleets
    run = a.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    assert a.slack(run.id) is None
    assert sorted(race([lambda: a.claim_card(run.id, "C0OPS"),
                        lambda: b.claim_card(run.id, "C0OTHER")])) == [False, True]
    assert a.claim_card(run.id, "C0OPS") is False
    claimed = b.slack(run.id)
    assert claimed is not None and (claimed.root_ts, claimed.cursor) == ("", 0)
    b.set_card(run.id, "1700000000.000100")
    posted = a.slack(run.id)
    assert posted is not None
    assert posted == FleetSlack(claimed.channel, "1700000000.000100", posted.claimed_at, 0)
    assert posted.claimed_at > claimed.claimed_at


def test_the_thread_cursor_moves_only_from_the_value_its_caller_saw(
        fleets: FleetStore) -> None:
    run = fleets.create("global", "asm-1-24", "U0ALICE", MEMBERS)
    assert fleets.move_cursor(run.id, 0, 3) is False  # no card yet
    fleets.claim_card(run.id, "C0OPS")
    assert fleets.move_cursor(run.id, 0, 3) is True
    assert fleets.move_cursor(run.id, 0, 5) is False  # another replica posted 1-3 already
    assert fleets.move_cursor(run.id, 3, 5) is True
    card = fleets.slack(run.id)
    assert card is not None and card.cursor == 5
