"""Driving a fleet run: each cluster of the current ring gets a normal run (its own card,
approvals, gates and change windows), at most `max_parallel` at once; a ring that is done soaks,
then asks for promotion to the next ring. A cluster of the ring that rolls back, fails or is
cancelled stops the fleet until a person resumes or cancels it (bot/workflow/fleet/people.py).

`advance` is one idempotent look, safe to repeat, to run after a crash and on two replicas at
once: a cluster run the fleet started is found again by the `fleet_run` in its options, so a
start is never sent twice, and every change of the fleet is conditional on what was read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.config.fleets import FleetConfig
from bot.fleet.plan import Fitness, FleetPlan
from bot.fleet.runs import (
    FleetPhase,
    FleetRun,
    Member,
    MemberState,
    Move,
    MoveKind,
    RingSpec,
    next_move,
    settled_member,
)
from bot.store.fleets import FleetConflict, FleetStore
from bot.upgrade.errors import (
    GiveUp,
    MeshUpgradeError,
    RunConflict,
)
from bot.upgrade.phases import Action
from bot.upgrade.records import Run
from bot.workflow.fleet.plan import fleet_plan
from bot.workflow.fleet.records import FleetEvent, FleetLook
from bot.workflow.locks import RunLocks
from bot.workflow.runner import Workflow


class FleetDriving:
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
            if run.over:
                return self.look(fleet_run_id)
            members, runs = self._follow(run)
            rings = self.rings(run.fleet)
            move = next_move(run, rings, members, self.now())
            if move.kind is MoveKind.WAIT and runs is not None:  # just read: not read again
                return FleetLook(run, members, runs, move.until)
            if move.kind is MoveKind.WAIT:
                return self.look(fleet_run_id, move.until)
            return self.look(fleet_run_id, self._carry_out(run, move, members, rings))

    def look(self, fleet_run_id: int, due: datetime | None = None) -> FleetLook:
        """The fleet as it is, with its clusters' runs under way (only those: the work grows
        with the clusters that move, not with the fleet)."""
        run = self.store.get(fleet_run_id)
        members = self.store.members(fleet_run_id)
        runs = {m.run_id: self.workflow.store.get_run(m.run_id) for m in members
                if m.run_id is not None and m.state is MemberState.RUNNING}
        return FleetLook(run, members, runs, due)

    def _carry_out(self, run: FleetRun, move: Move, members: tuple[Member, ...],
                   rings: tuple[RingSpec, ...]) -> datetime | None:
        """Do `move` (anything but WAIT); returns when the fleet next has something to do."""
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

    def _follow(self, run: FleetRun) -> tuple[tuple[Member, ...], dict[int, Run] | None]:
        """The members with their clusters' runs as they are now (recorded as they change),
        and the runs of those still under way; None for those when another writer changed a
        member meanwhile (what was read is then not the fleet as it is)."""
        members: list[Member] = []
        runs: dict[int, Run] = {}
        raced = False
        for m in self.store.members(run.id):
            if m.state is MemberState.RUNNING and m.run_id is not None:
                cluster_run = self.workflow.store.get_run(m.run_id)
                after = settled_member(m, cluster_run.phase, cluster_run.updated_at,
                                       cluster_run.pause_reason or "")
                if after == m:
                    runs[m.run_id] = cluster_run
                elif self.store.set_member(run.id, m.state, after):
                    done = after.state is MemberState.COMPLETED
                    self.store.audit(
                        run.id, "bot",
                        FleetEvent.CLUSTER_DONE if done else FleetEvent.CLUSTER_STOPPED,
                        f"{m.cluster} " + (f"completed: on {run.target}" if done
                                           else after.reason),
                        {"cluster": m.cluster, "run_id": m.run_id,
                         "phase": cluster_run.phase.value})
                    m = after
                else:
                    raced = True
            members.append(m)
        return tuple(members), None if raced else runs

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


