"""Driving a fleet run: each cluster of the current ring gets a normal run (its own card,
approvals, gates and change windows), at most `max_parallel` at once; a ring that is done soaks,
then the fleet's approvers promote it to the next ring. A cluster of the ring that rolls back,
fails or is cancelled stops the fleet until a person resumes or cancels it.

`advance` is one idempotent look, safe to repeat and to run after a crash: a cluster run the
fleet started is found again by the `fleet_run` in its options, so a start is never sent twice.
Everything a person does (promote, pause, resume, cancel) is checked against the fleet's
promotion policy with the groups the caller read at that moment, and audited in the fleet's
own log (one reply each in the fleet card's thread).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.config.fleets import FleetConfig
from bot.fleet.plan import Fitness, FleetPlan
from bot.fleet.runs import (
    FleetAction,
    FleetPhase,
    FleetRun,
    Member,
    MemberState,
    MoveKind,
    RingSpec,
    next_move,
    resumed,
    settled_member,
)
from bot.store.fleets import FleetApproval, FleetConflict, FleetStore
from bot.store.repository import Store
from bot.upgrade.approvals import ApprovalPolicy, Verdict, evaluate, may_ask_again
from bot.upgrade.errors import (
    GiveUp,
    MeshUpgradeError,
    NotAllowed,
    RunConflict,
    StaleVersion,
)
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase, is_terminal
from bot.upgrade.records import Run
from bot.workflow.checks import CHECK_TALLY
from bot.workflow.fleets import fleet_plan
from bot.workflow.locks import RunLocks
from bot.workflow.runner import Workflow


class FleetEvent(StrEnum):
    """One entry of a fleet's audit (and one reply in its card's thread)."""

    STARTED = "started"
    CLUSTER_STARTED = "cluster_started"
    CLUSTER_WAITS = "cluster_waits"  # its cluster already has a run of its own
    CLUSTER_DONE = "cluster_done"
    CLUSTER_STOPPED = "cluster_stopped"
    SOAKING = "soaking"
    PROMOTION_ASKED = "promotion_asked"
    APPROVED = "approved"
    REFUSED = "refused"
    PROMOTED = "promoted"
    STOPPED = "stopped"
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class FleetOutcome(StrEnum):
    APPLIED = "applied"  # the action took effect
    COUNTED = "counted"  # an approval counted; more are needed
    REFUSED = "refused"  # the clicker may not, or the request expired (asked again)
    STALE = "stale"  # the card was out of date
    OUT_OF_TURN = "out_of_turn"  # not possible in the fleet's phase


@dataclass(frozen=True)
class FleetResult:
    outcome: FleetOutcome
    run: FleetRun
    message: str


@dataclass(frozen=True)
class FleetLook:
    """The fleet after one look: its run, members, the runs of its clusters under way (by
    run id), and when it next has something to do by itself (None: people do)."""

    run: FleetRun
    members: tuple[Member, ...]
    runs: Mapping[int, Run]
    due: datetime | None

    @property
    def fingerprint(self) -> tuple[object, ...]:
        """Changes whenever what the fleet card shows may have changed."""
        return (self.run.version, self.members,
                tuple(sorted((i, r.version) for i, r in self.runs.items())))


class FleetWorkflow:
    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.store: FleetStore = workflow.store.fleets
        self._locks = RunLocks()

    @property
    def now(self) -> Callable[[], datetime]:
        return self.workflow.now

    def config(self, fleet: str) -> FleetConfig:
        return self.workflow.config.fleet(fleet)

    def rings(self, fleet: str) -> tuple[RingSpec, ...]:
        return tuple(RingSpec(r.name, r.max_parallel, r.soak) for r in self.config(fleet).rings)

    def plan(self, fleet: str, to: str | None) -> FleetPlan:
        return fleet_plan(self.workflow.config, self.workflow.adapters, fleet, to)

    # --- starting --------------------------------------------------------------------------

    def start(self, fleet: str, by: str, to: str | None = None) -> FleetRun:
        """Plan the fleet and start its first ring; refused when the fleet holds (a cluster
        cannot take the target and the fleet is set to hold, or nothing would move)."""
        if (active := self.store.active(fleet)) is not None:
            raise FleetConflict(fleet, active)
        plan = self.plan(fleet, to)
        if plan.holds:
            unfit = "; ".join(f"{c.cluster}: {c.reason}" for c in plan.unfit)
            raise GiveUp(f"Fleet {fleet} holds: "
                         + (unfit or f"no cluster would move to {plan.target}") + ".",
                         f"`/mesh-upgrade fleet plan {fleet}` shows each cluster; fix them "
                         "(or set `on_unfit: skip`), then start again.")
        rings = {r.name: i for i, r in enumerate(self.config(fleet).rings)}
        members = [_member(c.cluster, rings[c.ring], c.fitness, c.reason) for c in plan.clusters]
        run = self.store.create(fleet, plan.target, by, members)
        moving = sum(1 for c in plan.clusters if c.goes)
        self.store.audit(run.id, by, FleetEvent.STARTED,
                         f"started fleet {fleet} to {plan.target}: {moving} of "
                         f"{len(plan.clusters)} clusters to upgrade",
                         {"target": plan.target, "moving": moving,
                          "skipped": [c.cluster for c in plan.unfit]})
        return run

    # --- driving -----------------------------------------------------------------------------

    def advance(self, fleet_run_id: int) -> FleetLook:
        """One look at the fleet: follow its clusters' runs, then do what its phase needs."""
        with self._locks(fleet_run_id):
            run = self.store.get(fleet_run_id)
            due = None if run.over else self._step(run)
            return self.look(fleet_run_id, due)

    def look(self, fleet_run_id: int, due: datetime | None = None) -> FleetLook:
        """The fleet as it is, with its clusters' runs under way (only those: the work grows
        with the clusters that move, not with the fleet)."""
        run = self.store.get(fleet_run_id)
        members = self.store.members(fleet_run_id)
        runs = {m.run_id: self.workflow.store.get_run(m.run_id) for m in members
                if m.run_id is not None and m.state is MemberState.RUNNING}
        return FleetLook(run, members, runs, due)

    def _step(self, run: FleetRun) -> datetime | None:
        members = self._follow(run)
        rings = self.rings(run.fleet)
        move = next_move(run, rings, members, self.now())
        if move.kind is MoveKind.START:
            for cluster in move.clusters:
                self._start_member(run, next(m for m in members if m.cluster == cluster))
            return None
        if move.kind is MoveKind.STOP:
            self.store.move(run.id, run.version, FleetPhase.STOPPED, note=move.why,
                            audit=[("bot", FleetEvent.STOPPED, f"stopped: {move.why}",
                                    {"clusters": list(move.clusters)})])
        elif move.kind is MoveKind.SOAK:
            self.store.move(run.id, run.version, FleetPhase.SOAKING, soak_until=move.until,
                            audit=[("bot", FleetEvent.SOAKING,
                                    f"ring {rings[run.ring].name} is done; it soaks until "
                                    f"{move.until:%H:%M:%S} UTC",
                                    {"ring": rings[run.ring].name,
                                     "until": move.until.isoformat() if move.until else ""})])
            return move.until
        elif move.kind is MoveKind.ASK:
            self._ask(run, rings)
        elif move.kind is MoveKind.COMPLETE:
            self.store.move(run.id, run.version, FleetPhase.COMPLETED,
                            audit=[("bot", FleetEvent.COMPLETED,
                                    f"completed: every ring is on {run.target}", {})])
        return move.until

    def _follow(self, run: FleetRun) -> tuple[Member, ...]:
        """The members with their clusters' runs as they are now (recorded as they change)."""
        members = []
        for m in self.store.members(run.id):
            if m.state is MemberState.RUNNING and m.run_id is not None:
                cluster_run = self.workflow.store.get_run(m.run_id)
                after = settled_member(m, cluster_run.phase, cluster_run.updated_at,
                                       cluster_run.pause_reason or "")
                if after != m and self.store.set_member(run.id, m.state, after):
                    done = after.state is MemberState.COMPLETED
                    self.store.audit(
                        run.id, "bot",
                        FleetEvent.CLUSTER_DONE if done else FleetEvent.CLUSTER_STOPPED,
                        f"{m.cluster} " + (f"completed: on {run.target}" if done
                                           else after.reason),
                        {"cluster": m.cluster, "run_id": m.run_id,
                         "phase": cluster_run.phase.value})
                    m = after
            members.append(m)
        return tuple(members)

    def _start_member(self, run: FleetRun, m: Member) -> None:
        """Ask for the cluster's run (its own card asks its approvers to start it), or adopt
        the one this fleet run already started (before a crash, or on another replica)."""
        cluster_run = self.workflow.store.active_run(m.cluster)
        if cluster_run is None:
            try:
                cluster_run = self.workflow.request(m.cluster, Action.START, run.requested_by,
                                                    to=run.target, fleet_run=run.id)
            except RunConflict:  # created meanwhile: by this fleet run elsewhere, or by hand
                cluster_run = self.workflow.store.active_run(m.cluster)
                if cluster_run is None:
                    return  # and over already: the next look tries again
            except MeshUpgradeError as exc:
                self.store.set_member(run.id, m.state, Member(
                    m.cluster, m.ring, MemberState.STOPPED, None,
                    f"its run could not be planned: {exc.message}", self.now()))
                return
        if cluster_run.options.get("fleet_run") != run.id:
            self._wait_for_own_run(run, m, cluster_run)
            return
        if self.store.set_member(run.id, m.state, Member(m.cluster, m.ring, MemberState.RUNNING,
                                                         cluster_run.id)):
            self.store.audit(run.id, "bot", FleetEvent.CLUSTER_STARTED,
                             f"{m.cluster}: run {cluster_run.id} to {run.target} planned; "
                             "its card asks for approval to start",
                             {"cluster": m.cluster, "run_id": cluster_run.id})

    def _wait_for_own_run(self, run: FleetRun, m: Member, cluster_run: Run) -> None:
        """The cluster has a run the fleet did not start: the fleet waits for it to end."""
        waits = f"waits for its own run {cluster_run.id} to end"
        if m.reason != waits and self.store.set_member(
                run.id, m.state, Member(m.cluster, m.ring, m.state, None, waits)):
            self.store.audit(run.id, "bot", FleetEvent.CLUSTER_WAITS,
                             f"{m.cluster} {waits} ({cluster_run.phase.value})",
                             {"cluster": m.cluster, "run_id": cluster_run.id})

    def _ask(self, run: FleetRun, rings: tuple[RingSpec, ...]) -> None:
        to = rings[run.ring + 1].name
        self.store.move(run.id, run.version, FleetPhase.AWAITING_PROMOTION, asked_at=self.now(),
                        audit=[("bot", FleetEvent.PROMOTION_ASKED,
                                f"ring {rings[run.ring].name} soaked: promotion to {to} needs "
                                "the fleet's approvers", {"to": to})])

    # --- what people do --------------------------------------------------------------------

    def act(self, fleet_run_id: int, action: FleetAction, user: str, version: int | None,
            groups: frozenset[str] | None, reason: str = "") -> FleetResult:
        """One click or command of `user` on the fleet run (as shown at `version`; None: the
        current one, for commands). `groups` are the user's groups read now (None: unknown)."""
        with self._locks(fleet_run_id):
            run = self.store.get(fleet_run_id)
            if version is not None and run.version != version:
                return FleetResult(FleetOutcome.STALE, run, "The fleet card was out of date; "
                                   "nothing was done. Use the buttons on the current card.")
            if action not in run.actions():
                names = ", ".join(sorted(a.value for a in run.actions())) or "nothing"
                return FleetResult(FleetOutcome.OUT_OF_TURN, run,
                                   f"The fleet run is {run.phase.value}: {action.value} is not "
                                   f"possible now. Possible now: {names}.")
            if action is FleetAction.PROMOTE:
                return self._promote(run, user, groups)
            if not self._may_steer(run, user, groups):
                return self._refuse(run, action, user, "only the requester or the fleet's "
                                    "approvers may pause, resume or cancel it")
            return self._steer(run, action, user, reason)

    def _may_steer(self, run: FleetRun, user: str, groups: frozenset[str] | None) -> bool:
        policy = self.config(run.fleet).promotion.policy()
        return user == run.requested_by or user in policy.users or \
            bool((groups or frozenset()) & set(policy.groups))

    def _refuse(self, run: FleetRun, action: FleetAction, user: str, why: str) -> FleetResult:
        self.store.audit(run.id, user, FleetEvent.REFUSED, f"refused {action.value}: {why}",
                         {"action": action.value, "why": why})
        return FleetResult(FleetOutcome.REFUSED, run, f"{why[0].upper()}{why[1:].rstrip('.')}.")

    def _promote(self, run: FleetRun, user: str, groups: frozenset[str] | None) -> FleetResult:
        policy = self.config(run.fleet).promotion.policy()
        to = self.rings(run.fleet)[run.ring + 1].name
        asked = run.asked_at or run.updated_at
        decision = evaluate(policy, run.requested_by, self.store.approvals(run.id, run.ring + 1,
                                                                            asked),
                            user, groups, self.now(), requested_at=asked)
        if decision.verdict is Verdict.EXPIRED and \
                may_ask_again(policy, run.requested_by, user, groups):
            again = self.store.move(run.id, run.version, FleetPhase.AWAITING_PROMOTION,
                                    asked_at=self.now(), audit=[(
                                        user, FleetEvent.PROMOTION_ASKED,
                                        f"promotion to {to} asked again (the request had "
                                        "expired)", {"to": to})])
            return FleetResult(FleetOutcome.REFUSED, again, f"{decision.message} Your click "
                               "asked for it again: approvers can approve it now.")
        if not decision.record and decision.verdict is not Verdict.SATISFIED:
            return self._refuse(run, FleetAction.PROMOTE, user, decision.message)
        if decision.record:
            self.store.approve(run.id, run.ring + 1, asked, user)
            self.store.audit(run.id, user, FleetEvent.APPROVED, f"approved promotion to {to}",
                             {"to": to})
        # Counted again from the store: another replica may have recorded the other approval
        # that was needed at the same moment (each would else see one too few).
        approvers = _counted(policy, run.requested_by,
                             self.store.approvals(run.id, run.ring + 1, asked), self.now())
        if len(approvers) < policy.required:
            return FleetResult(FleetOutcome.COUNTED, run, decision.message)
        try:
            after = self.store.move(run.id, run.version, FleetPhase.RUNNING, ring=run.ring + 1,
                                    audit=[(user, FleetEvent.PROMOTED, f"promoted to ring {to}",
                                            {"to": to, "approvers": approvers})])
        except StaleVersion:  # the other replica promoted it with the same approvals
            after = self.store.get(run.id)
        return FleetResult(FleetOutcome.APPLIED, after, f"Promoted to ring *{to}* (approved by "
                           f"{', '.join(f'<@{u}>' for u in approvers)}).")

    def _steer(self, run: FleetRun, action: FleetAction, user: str, reason: str) -> FleetResult:
        note = f" ({reason})" if reason else ""
        if action is FleetAction.PAUSE:
            after = self.store.move(run.id, run.version, FleetPhase.PAUSED,
                                    note=f"paused by <@{user}>{note}",
                                    audit=[(user, FleetEvent.PAUSED, f"paused{note}", {})])
            return FleetResult(FleetOutcome.APPLIED, after, "The fleet is paused: no new "
                               "cluster starts and nothing is promoted. Runs under way go on.")
        if action is FleetAction.CANCEL:
            going = [m.cluster for m in self.store.members(run.id)
                     if m.state is MemberState.RUNNING]
            after = self.store.move(run.id, run.version, FleetPhase.CANCELLED,
                                    note=f"cancelled by <@{user}>{note}",
                                    audit=[(user, FleetEvent.CANCELLED, f"cancelled{note}",
                                            {"under_way": going})])
            left = (f" Runs under way go on as their cards say: {', '.join(going)}."
                    if going else "")
            return FleetResult(FleetOutcome.APPLIED, after, "The fleet run is cancelled; no "
                               f"further cluster starts.{left}")
        return self._resume(run, user)

    def _resume(self, run: FleetRun, user: str) -> FleetResult:
        members = self.store.members(run.id)
        if run.phase is FleetPhase.STOPPED:
            still = [m for m in members if m.ring == run.ring and m.state is MemberState.STOPPED
                     and m.run_id is not None
                     and not is_terminal(self.workflow.store.get_run(m.run_id).phase)]
            if still:
                raise NotAllowed(f"{', '.join(m.cluster for m in still)} still has a failed "
                                 "run.", "Roll it back or cancel it on its card, then resume "
                                 "the fleet.")
            for before, after in zip(members, resumed(members, run.ring), strict=True):
                if after != before:
                    self.store.set_member(run.id, before.state, after)
        after_run = self.store.move(run.id, run.version, FleetPhase.RUNNING,
                                    audit=[(user, FleetEvent.RESUMED, "resumed",
                                            {"from": run.phase.value, "note": run.note})])
        return FleetResult(FleetOutcome.APPLIED, after_run, "The fleet goes on.")

    def by_name(self, fleet: str) -> FleetRun:
        """The fleet's active run (for commands), or an error that says how to start one."""
        run = self.store.active(fleet)
        if run is None:
            raise GiveUp(f"Fleet {fleet} has no run under way.",
                         f"`/mesh-upgrade fleet start {fleet}` starts one.")
        return run


def _member(cluster: str, ring: int, fitness: Fitness, reason: str) -> Member:
    state = {Fitness.READY: MemberState.PENDING,
             Fitness.AT_TARGET: MemberState.AT_TARGET}.get(fitness, MemberState.SKIPPED)
    return Member(cluster, ring, state, None, "" if state is MemberState.PENDING else reason)


@dataclass(frozen=True)
class Evidence:
    """What a completed cluster shows for promotion: its time on the new revision (since every
    workload moved), its scheduled checks, and its traffic gates' verdicts."""

    on_target_since: datetime | None
    checks_passed: int
    checks_failed: int
    waves: Mapping[str, int]  # traffic verdict outcome -> how many waves had it
    soak: str | None  # the soak's traffic verdict, if the cluster has traffic gates


def evidence(store: Store, run: Run) -> Evidence:
    since = next((c.at for c in store.history(run.id) if c.to_phase is Phase.VERIFYING), None)
    tally = store.step(run.id, CHECK_TALLY) or {}
    waves: dict[str, int] = {}
    soak = None
    for entry in store.audit_log(run_id=run.id):
        if entry.kind is not AuditKind.TRAFFIC_VERDICT:
            continue
        outcome = str((entry.detail.get("verdict") or {}).get("outcome", ""))
        if entry.detail.get("gate") == "soak":
            soak = outcome
        else:
            waves[outcome] = waves.get(outcome, 0) + 1
    return Evidence(since, int(tally.get("passed", 0)), int(tally.get("failed", 0)), waves, soak)


def _counted(policy: ApprovalPolicy, requester: str, approvals: Sequence[FleetApproval],
             now: datetime) -> list[str]:
    """The distinct approvers that count: anyone but the requester, not expired."""
    return list(dict.fromkeys(a.user_id for a in sorted(approvals, key=lambda a: a.at)
                              if a.user_id != requester and now < a.at + policy.expires_after))
