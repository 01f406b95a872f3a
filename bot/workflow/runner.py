"""The upgrade workflow: the one place where phases meet side effects.

`advance(run_id)` does one idempotent step of a run (it observes, then acts only if needed) and
says whether the run now waits: for an approval, for time, for an ARM operation, or for a
person. `request`/`decide`/`resume` are what the Slack layer calls: `decide` evaluates the
approval policy (bot/upgrade/approvals.py) with the clicker's groups as the caller resolved
them at click time, records the approval and applies the transition once the policy is met.
Errors never escape a step: RetryLater keeps the phase and asks to be called again later, an
ARM operation that failed moves the run to `failed`, anything else pauses the run with the
reason and a hint. Nothing is built here: adapters come from `connect`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from bot.config.settings import BotConfig
from bot.store.repository import Store
from bot.upgrade.approvals import Verdict, may_ask_again
from bot.upgrade.errors import (
    GateRefused,
    GiveUp,
    MeshUpgradeError,
    NotAllowed,
    RetryLater,
    StaleVersion,
)
from bot.upgrade.kinds import AuditKind, StepKind
from bot.upgrade.phases import (
    Action,
    Phase,
    RunKind,
    is_terminal,
    next_phase,
)
from bot.upgrade.plan import Plan, Settings, check_complete, make_plan
from bot.upgrade.records import NewAuditEntry, NewRun, Run
from bot.upgrade.tag_plan import needed_changes
from bot.workflow.approvals import ApprovalResult, Outcome, judge
from bot.workflow.checks import CheckReport, CheckSubject, take_check
from bot.workflow.events import (
    EventSink,
    audited,
    gate_verdict,
    ignore,
    step_finished,
    step_started,
)
from bot.workflow.locks import RunLocks
from bot.workflow.minor import (
    awaiting_decision,
    canary_ready,
    completing,
    planned,
    rolling,
    rolling_back,
    starting,
    verifying,
)
from bot.workflow.patch import patch_plan, patch_planned, patch_restarting, patch_verifying
from bot.workflow.pauses import auto_retry_in, fail, pause, retry_later, stepped
from bot.workflow.ports import Adapters, observe
from bot.workflow.reads import ClusterReads
from bot.workflow.steps import AUTO_RETRY_KEY, Ctx, OperationFailed, StepResult, Wait
from bot.workflow.traffic import (
    complete_blockers,
    held_gate,
    live_traffic,
    override_reason,
    record_override,
    refuse_unless_overridden,
)
from bot.workflow.windows import OVERRIDE as WINDOW_OVERRIDE
from bot.workflow.windows import maintenance_notes

Connect = Callable[[str], Adapters]
Step = Callable[[Ctx], StepResult]

STEPS: Mapping[Phase, Step] = {
    Phase.PLANNED: planned, Phase.STARTING: starting, Phase.CANARY_READY: canary_ready,
    Phase.ROLLING: rolling, Phase.VERIFYING: verifying,
    Phase.AWAITING_DECISION: awaiting_decision, Phase.COMPLETING: completing,
    Phase.ROLLING_BACK: rolling_back, Phase.PATCH_PLANNED: patch_planned,
    Phase.PATCH_RESTARTING: patch_restarting, Phase.PATCH_VERIFYING: patch_verifying,
}


class Workflow:
    def __init__(self, store: Store, config: BotConfig, connect: Connect,
                 now: Callable[[], datetime] | None = None, events: EventSink = ignore) -> None:
        self.store, self.config, self._connect = store, config, connect
        self.events = events  # told of everything that happens in a run (bot/workflow/events.py)
        self.now = now or (lambda: datetime.now(UTC))
        self._adapters: dict[str, Adapters] = {}
        self._locks = RunLocks()
        self.reads = ClusterReads(self.adapters, self.settings)  # looks outside a run's steps

    def adapters(self, cluster: str) -> Adapters:
        if cluster not in self._adapters:
            self._adapters[cluster] = self._connect(cluster)
        return self._adapters[cluster]

    def settings(self, cluster: str, use_tags: bool | None = None) -> Settings:
        """The cluster's settings; `use_tags` overrides its `tags.use_tags` (`--no-tags`)."""
        settings = self.config.cluster(cluster).settings()
        return settings if use_tags is None else replace(settings, use_tags=use_tags)

    def run_settings(self, run: Run) -> Settings:
        """The settings a run was planned with: whether it uses revision tags is the run's own
        choice, stored in its plan when it was requested, never read again from the config."""
        return self.settings(run.cluster, bool(run.plan.get("use_tags", True)))

    # --- plans ------------------------------------------------------------------------------

    def plan(self, cluster: str, to: str | None = None, use_tags: bool | None = None) -> Plan:
        """What an upgrade of `cluster` would do now (to `to`, or the lowest offered), with
        revision tags unless `use_tags` is False (None: as the cluster's configuration says)."""
        a = self.adapters(cluster)
        options = a.mesh.available_upgrades()
        kubernetes = a.mesh.mesh_state().kubernetes_version  # decides the sidecar mode
        plan = make_plan(self.settings(cluster, use_tags), options, observe(a.cluster), to,
                         kubernetes)
        warned = maintenance_notes(a.mesh, self.config.cluster(cluster),
                                   self.now())
        plan = replace(plan, notes=(*plan.notes, *warned))
        if denied := a.cluster.forbidden_tag_changes(needed_changes(plan.tag_plans)):
            raise GiveUp(f"This upgrade must change revision tags the bot may not touch on "
                         f"{cluster}: {'; '.join(denied)}.",
                         "Add those webhook configuration names to resourceNames in the bot's "
                         "ClusterRole (deploy/base/rbac.yaml), or move those tags by hand, "
                         "then ask for the plan again.")
        return plan

    def patch_plan(self, cluster: str) -> Plan:
        a = self.adapters(cluster)
        state = a.mesh.mesh_state()
        if state.upgrade_in_progress or not state.revisions:
            raise GiveUp(f"{cluster} runs {', '.join(state.revisions) or 'no revision'}.",
                         "The patch flow needs exactly one installed revision.")
        return patch_plan(self.settings(cluster), a.cluster.take_census(), state.revisions[0],
                          state.kubernetes_version)

    # --- what people ask for (the Slack layer calls these) ------------------------------------

    def request(self, cluster: str, action: Action, by: str, *, to: str | None = None,
                use_tags: bool | None = None, fleet_run: int | None = None) -> Run:
        """START (or RESTART with no run) creates a run; other actions name the active run.
        A new run's `use_tags` (None: the cluster's configuration) is stored in its plan; a
        run a fleet run started names it (`fleet_run` in its options)."""
        active = self.store.active_run(cluster)
        if action is Action.START and active is None:
            plan = self.plan(cluster, to, use_tags)
            return self._create(cluster, RunKind.MINOR, plan, by, to, fleet_run)
        if action is Action.RESTART and active is None:
            return self._create(cluster, RunKind.PATCH, self.patch_plan(cluster), by, None)
        if active is None:
            raise GiveUp(f"{cluster} has no active run to {action}.",
                         "Start an upgrade (/mesh-upgrade start) or a patch restart first.")
        self._allowed(active, action)
        self.record(active, NewAuditEntry(by, AuditKind.REQUESTED, f"requested {action}",
                                          {"action": action.value}))
        return active

    def _create(self, cluster: str, kind: RunKind, plan: Plan, by: str, to: str | None,
                fleet_run: int | None = None) -> Run:
        options = {"to": to, **({"fleet_run": fleet_run} if fleet_run is not None else {})}
        run = self.store.create_run(NewRun(cluster, kind, plan.current, plan.target, by,
                                           options, plan.to_json()))
        what = f"requested {kind} run {plan.current} -> {plan.target}"
        self.store.audit(by, AuditKind.RUN_REQUESTED, what, cluster=cluster, run_id=run.id,
                         detail={"plan": plan.to_json()})
        self.events(audited(run, NewAuditEntry(by, AuditKind.RUN_REQUESTED, what, {
            "kind": kind.value, "from": plan.current, "to": plan.target,
            "use_tags": plan.use_tags, "waves": len(plan.waves)})))  # the plan is in the audit
        return run

    def record(self, run: Run, entry: NewAuditEntry) -> None:
        """Write `entry` about `run` to the audit, then tell the event sink."""
        self.store.audit(entry.actor, entry.kind, entry.what, cluster=run.cluster, run_id=run.id,
                         detail=entry.detail)
        self.events(audited(run, entry))

    def decide(self, run_id: int, action: Action, user: str, version: int,
               groups: frozenset[str] | None = None) -> ApprovalResult:
        """One click of `user` on `action` of the run as shown at `version`, with the groups
        the caller resolved for `user` at click time (None: unknown, which fails closed).
        The policy is evaluated here; clicks on one run are decided one at a time."""
        with self._locks(run_id):
            run = self.store.get_run(run_id)
            if run.version != version:
                self._refused(run, action, user, Outcome.STALE.value,
                              f"clicked on the card as of version {version}; the run is at "
                              f"version {run.version}")
                return ApprovalResult(Outcome.STALE, run)
            if action not in run.actions():
                self._refused(run, action, user, Outcome.OUT_OF_TURN.value,
                              f"{action.value} is not possible while the run is {run.phase}")
                return ApprovalResult(Outcome.OUT_OF_TURN, run)
            refuse_unless_overridden(self.store, run, action)
            policy = self.config.cluster(run.cluster).approval_policy(action)
            decision = judge(self.store, policy, run, action, user, groups, self.now())
            if decision is None:
                return ApprovalResult(Outcome.APPLIED, self._approve(run, action, user, True))
            if decision.verdict is Verdict.EXPIRED and \
                    may_ask_again(policy, run.requested_by, user, groups):
                # The click renews the request and counts as nobody's approval.
                return ApprovalResult(Outcome.ASKED_AGAIN,
                                      self.request(run.cluster, action, user), decision)
            satisfied = decision.verdict is Verdict.SATISFIED
            if not decision.record and not satisfied:
                self._refused(run, action, user, decision.verdict.value, decision.message)
                return ApprovalResult(Outcome.REFUSED, run, decision)
            after = self._approve(run, action, user, satisfied)
            return ApprovalResult(Outcome.APPLIED if satisfied else Outcome.COUNTED, after,
                                  decision)

    def approve(self, run_id: int, action: Action, user: str, run_version: int,
                groups: frozenset[str] | None = None) -> Run:
        """`decide`, for callers without a person to answer (the CLI, tests): anything but
        a counted or applied approval raises the error that says why."""
        result = self.decide(run_id, action, user, run_version, groups)
        if result.outcome is Outcome.STALE:
            raise StaleVersion(run_id, run_version, result.run.version)
        if result.outcome is Outcome.OUT_OF_TURN:
            self._allowed(result.run, action)
        if result.outcome in (Outcome.REFUSED, Outcome.ASKED_AGAIN):
            raise NotAllowed(result.decision.message if result.decision else "refused")
        return result.run

    def _refused(self, run: Run, action: Action, user: str, verdict: str, why: str) -> None:
        """Every refused click is in the audit, with its reason (and so in the thread)."""
        self.record(run, NewAuditEntry(user, AuditKind.REFUSED,
                                       f"refused {action.value}: {verdict}",
                                       {"action": action.value, "verdict": verdict,
                                        "run_version": run.version, "why": why}))

    def _approve(self, run: Run, action: Action, user: str, satisfied: bool) -> Run:
        """The approval, its audit and, when the policy is satisfied, the transition, as one
        durable decision. The gate before Complete is judged first: when it cannot be judged
        (the API server fails) or refuses, nothing is recorded and the click can be repeated."""
        approved = NewAuditEntry(user, AuditKind.APPROVED, f"approved {action}",
                                 {"action": action.value, "run_version": run.version,
                                  "satisfied": satisfied})
        if not satisfied:
            counted = self.store.approve(run.id, run.version, action.value, user, [approved])
            self.events(audited(counted, approved))
            return counted
        if action is Action.COMPLETE:
            self._gate_complete(run)
        before = [a.user_id for a in self.store.approvals(run.id, action.value, run.version)]
        approvers = [*before, *([] if user in before else [user])]
        to = next_phase(run.phase, action, run.kind, run.paused)
        why = f"{action} approved by {', '.join(approvers)}"
        moved = NewAuditEntry(user, AuditKind.PHASE_CHANGED, f"phase {to.value}",
                              {"event": action.value, "why": why, "to": to.value,
                               "approvers": approvers})
        after = self.store.approve(run.id, run.version, action.value, user, [approved, moved],
                                   to, why)
        self.events(audited(after, approved))
        self.events(audited(after, moved, run.phase))
        return after

    def override(self, cluster: str, user: str, reason: str,
                 groups: frozenset[str] | None = None) -> ApprovalResult:
        """`user` goes on past the traffic gate that holds the cluster's run, with `reason`
        (audited), and approves the held action with it; refused unless the action's policy
        counts `user`, with the groups the caller resolved now (None fails closed)."""
        run = self.store.active_run(cluster)
        if run is None:
            raise GiveUp(f"{cluster} has no active run.", "There is nothing to override.")
        why = override_reason(reason, cluster, "override")
        with self._locks(run.id):
            run = self.store.get_run(run.id)
            held = held_gate(self.store, run)
            action = Action(held["action"])
            if refused := self._not_an_approver(run, action, user, groups):
                return refused
            record_override(self.store, run, held, user, why, self.now())
            self.record(run, NewAuditEntry(user, AuditKind.TRAFFIC_OVERRIDDEN,
                                           f"overrode the traffic gate of {held['label']}",
                                           {"gate": held["gate"], "label": held["label"],
                                            "reason": why, "outcome": held["outcome"]}))
        return self.decide(run.id, action, user, run.version, groups)

    def rollback_now(self, cluster: str, user: str, reason: str,
                     groups: frozenset[str] | None = None) -> ApprovalResult:
        """Roll back outside the change window: `user` (counted by rollback's policy) gives
        `reason`, audited; it is their approval of the rollback, or, when the run already rolls
        back and waits for a window, lets it go on now."""
        run = self.store.active_run(cluster)
        if run is None:
            raise GiveUp(f"{cluster} has no active run to roll back.", "Nothing to do.")
        why = override_reason(reason, cluster, "rollback-now")
        with self._locks(run.id):
            run = self.store.get_run(run.id)
            if run.phase is not Phase.ROLLING_BACK:
                self._allowed(run, Action.ROLLBACK)
            if refused := self._not_an_approver(run, Action.ROLLBACK, user, groups):
                return refused
            self.store.put_step(run.id, WINDOW_OVERRIDE, {"by": user, "reason": why,
                                                          "at": self.now().isoformat()})
            self.record(run, NewAuditEntry(user, AuditKind.WINDOW_OVERRIDDEN,
                                           "rollback now, outside the change window",
                                           {"reason": why, "phase": run.phase.value}))
        if run.phase is Phase.ROLLING_BACK:  # it waited for the window: it goes on now
            self.store.release_step(run.id, AUTO_RETRY_KEY)
            return ApprovalResult(Outcome.APPLIED,
                                  self.store.set_pause(run.id, run.version, None, None))
        return self.decide(run.id, Action.ROLLBACK, user, run.version, groups)

    def _not_an_approver(self, run: Run, action: Action, user: str,
                         groups: frozenset[str] | None) -> ApprovalResult | None:
        """None when `action`'s policy counts `user` now; else the refusal, in the audit."""
        policy = self.config.cluster(run.cluster).approval_policy(action)
        decision = judge(self.store, policy, run, action, user, groups, self.now())
        if decision is None or decision.record or decision.verdict is Verdict.SATISFIED:
            return None
        self._refused(run, action, user, decision.verdict.value, decision.message)
        return ApprovalResult(Outcome.REFUSED, run, decision)

    def resume(self, run_id: int, user: str, run_version: int) -> Run:
        """Clear a pause after a person fixed its cause; the step is tried again."""
        run = self.store.get_run(run_id)
        if run.pause_reason is None:
            return run
        self.record(run, NewAuditEntry(user, AuditKind.RESUMED, "resumed",
                                       {"pause": run.pause_reason}))
        return self.store.set_pause(run_id, run_version, None, None)

    def _allowed(self, run: Run, action: Action) -> None:
        allowed = run.actions()
        if action not in allowed:
            names = ", ".join(sorted(allowed)) or "nothing (the run is over)"
            raise NotAllowed(f"Run {run.id} is {run.phase}: {action} is not possible now.",
                             f"Possible now: {names}.")

    def _gate_complete(self, run: Run) -> None:
        a = self.adapters(run.cluster)
        seen = observe(a.cluster)
        scope = sorted(ns for ns in seen.census.by_namespace
                       if self.run_settings(run).in_scope(ns))
        try:
            check_complete(run.from_rev, seen, a.cluster.check_health(scope, run.updated_at))
        except GateRefused as refused:
            self.events(gate_verdict(run, "complete", "refused", refused.message))
            self.record(run, NewAuditEntry("bot", AuditKind.GATE_REFUSED, "complete refused",
                                           {"remaining": list(refused.remaining)}))
            raise
        self.events(gate_verdict(run, "complete", "passed"))

    def check(self, run_id: int) -> CheckReport:
        """Health, census, control planes, HPAs and what keeps Complete disabled."""
        run = self.store.get_run(run_id)
        a = self.adapters(run.cluster)
        report = take_check(CheckSubject.of(run), a, self.run_settings(run))
        traffic = live_traffic(self.store, run, a.traffic, self.config.cluster(run.cluster),
                               self.now())
        warned = maintenance_notes(a.mesh, self.config.cluster(run.cluster),
                                   self.now(), start=self.now())
        return replace(report, traffic=traffic, maintenance=warned,
                       complete_blockers=(*report.complete_blockers,
                                          *complete_blockers(self.store, run)))

    # --- driving a run ------------------------------------------------------------------------

    def advance(self, run_id: int) -> StepResult:
        """Do one step of the run, or say what it waits for."""
        run = self.store.get_run(run_id)
        if is_terminal(run.phase):
            return StepResult(run.id, run.phase.value, StepKind.LOOK, f"run is {run.phase}",
                              Wait.DONE)
        step = STEPS.get(run.phase)
        due = auto_retry_in(self.store, run, self.now()) if run.paused and step else None
        if due is not None and due > 0:  # the bot tries this pause again on its own, later
            return StepResult(run.id, run.phase.value, StepKind.LOOK, run.pause_reason or "",
                              Wait.TIME, due, actions=tuple(sorted(run.actions())))
        if due is not None:
            run = self.store.set_pause(run.id, run.version, None, None)
        if run.pause_reason is not None or step is None:
            why = run.pause_reason or f"run is {run.phase}"
            return StepResult(run.id, run.phase.value, StepKind.LOOK, why, Wait.PERSON,
                              actions=tuple(sorted(run.actions())))
        self.events(step_started(run))
        began = time.perf_counter()
        result = self._step(step, self._ctx(run))
        self.events(step_finished(run, result.kind, result.did, result.wait.value,
                                  time.perf_counter() - began))
        return result

    def _step(self, step: Step, ctx: Ctx) -> StepResult:
        try:
            result = step(ctx)
        except RetryLater as exc:
            return retry_later(ctx, exc)
        except StaleVersion:
            return ctx.result(StepKind.LOOK, "the run changed meanwhile; looking again")
        except OperationFailed as exc:
            return fail(ctx, exc)
        except MeshUpgradeError as exc:
            return pause(ctx, exc)
        stepped(ctx)
        return result

    def _ctx(self, run: Run) -> Ctx:
        a = self.adapters(run.cluster)
        visits = sum(1 for c in self.store.history(run.id)
                     if c.to_phase is run.phase and c.from_phase is not run.phase)
        return Ctx(self.store, run, Plan.from_json(run.plan), self.run_settings(run),
                   self.config.cluster(run.cluster), a.mesh, a.cluster, self.now,
                   f"{run.phase.value}.{visits}", self.events, a.traffic)
