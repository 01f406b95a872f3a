"""Fleet runs driven by FleetWorkflow against meshsim's `fleet` scenario, with the real SDK
clients: two replicas advancing one fleet at once start each cluster once and audit each step
once; a crash between a cluster's run and its member is healed by adopting that run, while a
run the fleet did not start makes the cluster wait; and every refusal (a fleet that holds, a
second fleet run, promotion by the wrong people, an expired request, resume over a failed run)
says why, in the fleet's audit where a person clicked.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli.sandbox import APPROVERS, sandbox_config
from bot.cli.wiring import build_workflow
from bot.config.settings import BotConfig
from bot.fleet.runs import FleetAction, FleetPhase, FleetRun, Member, MemberState
from bot.runtime.fleets import FleetPilot
from bot.slack.fleet.notifier import FleetNotifier
from bot.store.fleets import FleetConflict
from bot.store.repository import Store, create_store
from bot.upgrade.errors import GiveUp, NotAllowed, StaleVersion
from bot.upgrade.phases import Action, Phase
from bot.workflow.fleet.people import FleetWorkflow
from bot.workflow.fleet.records import FleetEvent, FleetLook, FleetOutcome, evidence
from bot.workflow.runner import Workflow
from bot.workflow.steps import StepResult, Wait
from meshsim.sim import MeshSim
from tests.integration.conftest_workflow import run_until_blocked
from tests.sim_bot import sim_arm

FLEET, TARGET, SPEED = "fleet", "asm-1-24", 100.0
DEV = "aks-dev-1"  # the dev ring's one cluster that moves: aks-dev-2 is on the target
STAGING = ("aks-staging-1", "aks-staging-2")
ALICE, BOB, CAROL, MALLORY = "U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY"
APPROVER = frozenset({APPROVERS})
NOBODY: frozenset[str] = frozenset()


class Clock:
    """Real time plus an offset: one clock for every store and workflow of a test (replicas
    share real time), moved forward to expire a request."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Replica:
    store: Store
    workflow: Workflow
    fleets: FleetWorkflow


@dataclass
class FleetEnv:
    sim: MeshSim
    url: str
    config: BotConfig
    clock: Clock = field(default_factory=Clock)
    opened: list[Store] = field(default_factory=list)

    def replica(self, config: BotConfig | None = None) -> Replica:
        """A bot replica of its own: its store on the shared database, its workflow, its
        fleet workflow (each with its own in-process locks)."""
        store = create_store(self.url, clock=self.clock)
        self.opened.append(store)
        workflow = build_workflow(config or self.config, store, sim_arm(self.sim.describe()))
        workflow.now = self.clock
        return Replica(store, workflow, FleetWorkflow(workflow))


def fleet_config(sim: MeshSim, url: str, **fleet: Any) -> BotConfig:
    """The sandbox's configuration (as `bot_for` makes it) with `fleet` keys overridden."""
    data = sandbox_config(sim.describe(), 1.0, SPEED, url).model_dump()
    data["fleets"] = [{**f, **fleet} for f in data["fleets"]]
    return BotConfig.model_validate(data)


@contextmanager
def fleet_env(tmp_path: Path, **fleet: Any) -> Iterator[FleetEnv]:
    with MeshSim(FLEET, SPEED, tmp_path / "sim") as sim:
        url = f"sqlite:///{tmp_path / 'bot.db'}"
        env = FleetEnv(sim, url, fleet_config(sim, url, **fleet))
        try:
            yield env
        finally:
            for store in env.opened:
                store.close()


def through(workflow: Workflow, run_id: int, *actions: Action) -> StepResult:
    """Drive a cluster's run, bob (an approver, not the requester) approving each action."""
    result = run_until_blocked(workflow, run_id, max_sleep=0.1, deadline=20)
    for action in actions:
        assert result.wait in (Wait.APPROVAL, Wait.PERSON), result
        run = workflow.store.get_run(run_id)
        workflow.approve(run_id, action, BOB, run.version, APPROVER)
        result = run_until_blocked(workflow, run_id, max_sleep=0.1, deadline=20)
    return result


def kinds(r: Replica, fleet_run_id: int) -> Counter[str]:
    return Counter(e.kind for e in r.fleets.store.audit_log(fleet_run_id))


def member(r: Replica, fleet_run_id: int, cluster: str) -> Member:
    return next(m for m in r.fleets.store.members(fleet_run_id) if m.cluster == cluster)


def race(replicas: tuple[Replica, Replica], fleet_run_id: int, rounds: int) -> list[BaseException]:
    """Each replica advances the fleet `rounds` times, both released together each round;
    StaleVersion is what FleetPilot.move waits out (a MeshUpgradeError): anything else is
    returned."""
    barrier = threading.Barrier(len(replicas), timeout=30)
    escaped: list[BaseException] = []

    def advance(r: Replica) -> None:
        for _ in range(rounds):
            barrier.wait()
            try:
                r.fleets.advance(fleet_run_id)
            except StaleVersion:
                pass
            except BaseException as exc:  # the test reports whatever escaped
                escaped.append(exc)

    threads = [threading.Thread(target=advance, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return escaped


def clicked_together(clicks: tuple[tuple[Replica, str], ...], fleet_run_id: int
                     ) -> list[FleetOutcome]:
    """Each (replica, approver) clicks promote at the same moment."""
    barrier = threading.Barrier(len(clicks), timeout=30)
    outcomes: list[FleetOutcome] = []

    def click(r: Replica, user: str) -> None:
        barrier.wait()
        outcomes.append(r.fleets.act(fleet_run_id, FleetAction.PROMOTE, user, None,
                                     APPROVER).outcome)

    threads = [threading.Thread(target=click, args=c) for c in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def awaiting_promotion(r: Replica) -> tuple[FleetRun, int]:
    """Start the fleet and take its dev ring through for real, until promotion is asked."""
    fleet = r.fleets.start(FLEET, ALICE)
    run_id = r.fleets.advance(fleet.id).members[0].run_id
    assert run_id is not None
    assert through(r.workflow, run_id, Action.START, Action.ROLL,
                   Action.COMPLETE).phase == Phase.COMPLETED
    return soaked(r, fleet.id), run_id


def soaked(r: Replica, fleet_run_id: int) -> FleetRun:
    """Advance the fleet until its ring has soaked (10 ms of real time) and promotion is
    asked for."""
    for _ in range(20):
        if r.fleets.advance(fleet_run_id).run.phase is FleetPhase.AWAITING_PROMOTION:
            return r.fleets.store.get(fleet_run_id)
        time.sleep(0.05)
    raise AssertionError(f"fleet stuck in {r.fleets.store.get(fleet_run_id).phase}")


# --- two replicas at once --------------------------------------------------------------------


def test_two_replicas_advancing_one_fleet_at_once_start_each_cluster_and_each_step_once(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path) as env:
        a, b = env.replica(), env.replica()
        fleet = a.fleets.start(FLEET, ALICE)
        assert race((a, b), fleet.id, 20) == []
        [run] = a.store.recent_runs(DEV)
        assert run.options["fleet_run"] == fleet.id and run.phase is Phase.PLANNED
        assert a.store.recent_runs("aks-dev-2") == ()  # on the target already
        assert [a.store.recent_runs(c) for c in STAGING] == [(), ()]  # not its ring yet
        started = [e.detail for e in a.fleets.store.audit_log(fleet.id)
                   if e.kind == FleetEvent.CLUSTER_STARTED]
        assert started == [{"cluster": DEV, "run_id": run.id}]
        assert member(b, fleet.id, DEV).state is MemberState.RUNNING
        assert member(b, fleet.id, DEV).run_id == run.id
        assert not [m for m in b.fleets.store.members(fleet.id)
                    if m.state is MemberState.STOPPED]

        assert through(a.workflow, run.id, Action.START, Action.ROLL,
                       Action.COMPLETE).phase == Phase.COMPLETED
        assert race((a, b), fleet.id, 20) == []  # done, soaking, asking: each from both
        after = kinds(a, fleet.id)
        assert [after[k] for k in (FleetEvent.CLUSTER_DONE, FleetEvent.SOAKING,
                                   FleetEvent.PROMOTION_ASKED)] == [1, 1, 1]
        assert b.fleets.store.get(fleet.id).phase is FleetPhase.AWAITING_PROMOTION
        assert a.store.recent_runs(DEV) == (a.store.get_run(run.id),)


# --- a crash between a cluster's run and its member ------------------------------------------


def test_a_run_the_fleet_started_before_a_crash_is_adopted_not_started_again(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path) as env:
        r = env.replica()
        fleet = r.fleets.start(FLEET, ALICE)
        assert member(r, fleet.id, DEV).state is MemberState.PENDING
        before = r.workflow.request(DEV, Action.START, ALICE, to=TARGET, fleet_run=fleet.id)
        for _ in range(3):  # the process restarted: its first looks find the run
            look = r.fleets.advance(fleet.id)
        assert member(r, fleet.id, DEV).run_id == before.id
        assert member(r, fleet.id, DEV).state is MemberState.RUNNING
        assert list(look.runs) == [before.id]
        assert r.store.recent_runs(DEV) == (r.store.get_run(before.id),)
        assert kinds(r, fleet.id)[FleetEvent.CLUSTER_STARTED] == 1


def test_a_cluster_held_by_a_run_of_its_own_waits_then_gets_the_fleets_run(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path) as env:
        r = env.replica()
        fleet = r.fleets.start(FLEET, ALICE)
        own = r.workflow.request(DEV, Action.START, CAROL, to=TARGET)
        assert "fleet_run" not in own.options
        for _ in range(4):
            r.fleets.advance(fleet.id)
        waiting = member(r, fleet.id, DEV)
        assert waiting.state is MemberState.PENDING and waiting.run_id is None
        assert waiting.reason == f"waits for its own run {own.id} to end"
        assert kinds(r, fleet.id)[FleetEvent.CLUSTER_WAITS] == 1
        assert kinds(r, fleet.id)[FleetEvent.CLUSTER_STARTED] == 0
        assert r.store.recent_runs(DEV) == (r.store.get_run(own.id),)

        r.workflow.approve(own.id, Action.CANCEL, BOB, r.store.get_run(own.id).version,
                           APPROVER)
        r.fleets.advance(fleet.id)
        fleets_run = member(r, fleet.id, DEV)
        assert fleets_run.state is MemberState.RUNNING and fleets_run.run_id != own.id
        assert fleets_run.reason == ""
        assert r.store.get_run(fleets_run.run_id or 0).options["fleet_run"] == fleet.id


# --- what people may do ----------------------------------------------------------------------


def test_start_refuses_a_fleet_that_holds_and_a_second_run_naming_the_first(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path) as env:
        held = env.replica(fleet_config(env.sim, env.url, on_unfit="hold"))
        with pytest.raises(GiveUp) as holds:
            held.fleets.start(FLEET, ALICE)
        assert not isinstance(holds.value, FleetConflict)
        assert f"Fleet {FLEET} holds" in holds.value.message
        assert "aks-prod-eus-2" in holds.value.message and "on_unfit: skip" in holds.value.hint
        assert held.fleets.store.active(FLEET) is None  # nothing was created

        r = env.replica()
        first = r.fleets.start(FLEET, ALICE)
        with pytest.raises(FleetConflict) as conflict:
            r.fleets.start(FLEET, BOB)
        assert f"fleet run {first.id}" in conflict.value.message
        assert r.fleets.by_name(FLEET).id == first.id
        cancelled = r.fleets.act(first.id, FleetAction.CANCEL, ALICE, first.version, NOBODY)
        assert cancelled.outcome is FleetOutcome.APPLIED
        with pytest.raises(GiveUp, match="no run under way"):
            r.fleets.by_name(FLEET)


def test_promotion_refuses_the_requester_and_strangers_and_counts_two_approvers(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path, promotion={"groups": [APPROVERS], "required": 2}) as env:
        r = env.replica()
        fleet, dev_run = awaiting_promotion(r)
        shown = evidence(r.store, r.store.get_run(dev_run))
        assert shown.on_target_since is not None and shown.waves == {} and shown.soak is None

        for user, groups in ((ALICE, APPROVER), (MALLORY, NOBODY)):
            refused = r.fleets.act(fleet.id, FleetAction.PROMOTE, user, None, groups)
            assert refused.outcome is FleetOutcome.REFUSED, refused
        refusals = [e for e in r.fleets.store.audit_log(fleet.id)
                    if e.kind == FleetEvent.REFUSED]
        assert [e.actor for e in refusals] == [ALICE, MALLORY]
        assert "not an approver" in refusals[1].what

        counted = r.fleets.act(fleet.id, FleetAction.PROMOTE, BOB, None, APPROVER)
        assert counted.outcome is FleetOutcome.COUNTED and "1 more needed" in counted.message
        again = r.fleets.act(fleet.id, FleetAction.PROMOTE, BOB, None, APPROVER)
        assert again.outcome is FleetOutcome.REFUSED  # bob counts once
        applied = r.fleets.act(fleet.id, FleetAction.PROMOTE, CAROL, None, APPROVER)
        assert applied.outcome is FleetOutcome.APPLIED, applied
        assert (applied.run.phase, applied.run.ring) == (FleetPhase.RUNNING, 1)
        [promoted] = [e for e in r.fleets.store.audit_log(fleet.id)
                      if e.kind == FleetEvent.PROMOTED]
        assert promoted.detail["approvers"] == [BOB, CAROL]

        look = r.fleets.advance(fleet.id)
        assert {m.cluster for m in look.members if m.state is MemberState.RUNNING} == \
            set(STAGING)


def test_an_expired_promotion_request_is_asked_again_and_old_approvals_do_not_count(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path, promotion={"groups": [APPROVERS], "required": 2}) as env:
        r = env.replica()
        fleet, _ = awaiting_promotion(r)
        assert r.fleets.act(fleet.id, FleetAction.PROMOTE, BOB, None,
                            APPROVER).outcome is FleetOutcome.COUNTED
        env.clock.offset = timedelta(hours=25)  # past the default 24 h
        renewed = r.fleets.act(fleet.id, FleetAction.PROMOTE, CAROL, None, APPROVER)
        assert renewed.outcome is FleetOutcome.REFUSED and "asked for it again" in \
            renewed.message
        assert renewed.run.phase is FleetPhase.AWAITING_PROMOTION
        assert renewed.run.asked_at is not None and fleet.asked_at is not None
        assert renewed.run.asked_at > fleet.asked_at
        assert kinds(r, fleet.id)[FleetEvent.PROMOTION_ASKED] == 2

        assert r.fleets.act(fleet.id, FleetAction.PROMOTE, CAROL, None,
                            APPROVER).outcome is FleetOutcome.COUNTED  # bob's was the old one
        applied = r.fleets.act(fleet.id, FleetAction.PROMOTE, BOB, None, APPROVER)
        assert applied.outcome is FleetOutcome.APPLIED and applied.run.ring == 1


def test_a_stranger_cannot_renew_an_expired_promotion_request(tmp_path: Path) -> None:
    with fleet_env(tmp_path) as env:
        r = env.replica()
        fleet, _ = awaiting_promotion(r)
        env.clock.offset = timedelta(hours=25)
        refused = r.fleets.act(fleet.id, FleetAction.PROMOTE, MALLORY, None, NOBODY)
        assert refused.outcome is FleetOutcome.REFUSED
        assert r.fleets.store.get(fleet.id).asked_at == fleet.asked_at  # still expired
        assert kinds(r, fleet.id)[FleetEvent.REFUSED] == 1


def test_the_last_two_approvals_on_two_replicas_at_once_promote_the_fleet(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path, promotion={"groups": [APPROVERS], "required": 2}) as env:
        a, b = env.replica(), env.replica()
        fleet, _ = awaiting_promotion(a)  # aks-dev-1 is on the target from here on
        for _ in range(40):  # two concurrent clicks interleave badly in about one race in six
            outcomes = clicked_together(((a, BOB), (b, CAROL)), fleet.id)
            assert FleetOutcome.APPLIED in outcomes, (outcomes, a.fleets.store.get(fleet.id))
            a.fleets.act(fleet.id, FleetAction.CANCEL, ALICE, None, NOBODY)
            fleet = soaked(a, a.fleets.start(FLEET, ALICE).id)  # no dev cluster moves now


def test_resume_is_refused_while_a_stopped_clusters_run_is_failed_and_allowed_after_rollback(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path) as env:
        r = env.replica()
        fleet = r.fleets.start(FLEET, ALICE)
        run_id = r.fleets.advance(fleet.id).members[0].run_id
        assert run_id is not None
        env.sim.arm.fail_next_operation("InternalOperationError", "the control plane is gone")
        assert through(r.workflow, run_id, Action.START).phase == Phase.FAILED
        stopped = r.fleets.advance(fleet.id).run
        assert stopped.phase is FleetPhase.STOPPED and DEV in stopped.note
        assert member(r, fleet.id, DEV).state is MemberState.STOPPED

        with pytest.raises(NotAllowed, match=DEV):
            r.fleets.act(fleet.id, FleetAction.RESUME, ALICE, None, NOBODY)
        assert r.fleets.store.get(fleet.id).phase is FleetPhase.STOPPED
        stranger = r.fleets.act(fleet.id, FleetAction.RESUME, MALLORY, None, NOBODY)
        assert stranger.outcome is FleetOutcome.REFUSED

        assert through(r.workflow, run_id, Action.ROLLBACK).phase == Phase.ROLLED_BACK
        resumed = r.fleets.act(fleet.id, FleetAction.RESUME, ALICE, None, NOBODY)
        assert resumed.outcome is FleetOutcome.APPLIED
        r.fleets.advance(fleet.id)
        again = member(r, fleet.id, DEV)
        assert again.state is MemberState.RUNNING and again.run_id not in (None, run_id)
        assert len(r.store.recent_runs(DEV)) == 2


class _CardThatFailsOnce(FleetNotifier):
    """The fleet card as Slack takes it: the first edit fails (a 500), the next ones land."""

    def __init__(self) -> None:  # nothing of Slack is reached: only what was shown is kept
        self.failures, self.shown = 1, []

    def sync(self, look: FleetLook) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("Slack answered 500")
        self.shown.append(look.run.phase)


def test_a_finished_fleets_card_that_slack_failed_to_edit_is_edited_at_the_next_tick(
        tmp_path: Path) -> None:
    with fleet_env(tmp_path) as env:
        r = env.replica()
        fleet = r.fleets.start(FLEET, ALICE)
        card = _CardThatFailsOnce()
        pilot = FleetPilot(r.fleets, card)
        assert r.fleets.act(fleet.id, FleetAction.CANCEL, BOB, None, APPROVER).outcome is \
            FleetOutcome.APPLIED
        pilot.after_change(fleet.id, leading=True)  # the edit to "Cancelled" fails
        assert card.shown == [] and r.fleets.store.active(FLEET) is None
        pilot.tick()  # no longer active, but its card is still owed
        assert card.shown == [FleetPhase.CANCELLED]
        pilot.tick()
        assert card.shown == [FleetPhase.CANCELLED]  # and then forgotten: not edited again
