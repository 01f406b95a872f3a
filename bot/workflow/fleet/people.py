"""What people do to a fleet run: promote it (the fleet's promotion policy, never the
requester, counted from the store so two replicas promote once), pause, resume or cancel it
(the requester or a promotion approver). The groups are those the caller read at that moment;
every action and refusal is in the fleet's own audit (one reply each in its card's thread).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.fleet.runs import (
    FleetAction,
    FleetPhase,
    FleetRun,
    MemberState,
    resumed,
)
from bot.store.fleets import FleetApproval
from bot.upgrade.approvals import ApprovalPolicy, Verdict, evaluate, may_ask_again
from bot.upgrade.errors import NotAllowed, StaleVersion
from bot.upgrade.phases import is_terminal
from bot.workflow.fleet.driving import FleetDriving
from bot.workflow.fleet.records import FleetEvent, FleetOutcome, FleetResult


class FleetWorkflow(FleetDriving):
    """A fleet run driven, and steered by people."""

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

    def still_asked(self, fleet_run_id: int, asked: datetime) -> FleetRun | None:
        """The fleet run, if it still waits for approvers on the request made at `asked`
        (not promoted, paused, renewed, or approved enough since)."""
        run = self.store.get(fleet_run_id)
        if run.phase is not FleetPhase.AWAITING_PROMOTION or run.asked_at != asked:
            return None
        policy = self.config(run.fleet).promotion.policy()
        counted = _counted(policy, run.requested_by,
                           self.store.approvals(run.id, run.ring + 1, asked), self.now())
        return run if len(counted) < policy.required else None

    def note_once(self, run: FleetRun, kind: FleetEvent, what: str, asked: datetime,
                  ping: bool = False) -> bool:
        """An audit entry (a reply in the thread) once per request, even if its job runs
        twice (a restart, or a replica taking over between the run and its record); with
        `ping`, the reply mentions the promotion's approvers."""
        key = asked.isoformat()
        policy = self.config(run.fleet).promotion.policy()
        detail = {"asked_at": key, **({"groups": list(policy.groups),
                                       "users": list(policy.users)} if ping else {})}
        with self._locks(run.id):
            if any(e.kind == kind and e.detail.get("asked_at") == key
                   for e in self.store.audit_log(run.id)):
                return False
            self.store.audit(run.id, "bot", kind, what, detail)
            return True

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
        if decision.verdict is Verdict.EXPIRED:
            if not may_ask_again(policy, run.requested_by, user, groups):
                return self._refuse(run, FleetAction.PROMOTE, user, "the request expired, and "
                                    "you are not an approver here, so your click cannot ask "
                                    "for it again")
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


def _counted(policy: ApprovalPolicy, requester: str, approvals: Sequence[FleetApproval],
             now: datetime) -> list[str]:
    """The distinct approvers that count: anyone but the requester, not expired."""
    return list(dict.fromkeys(a.user_id for a in sorted(approvals, key=lambda a: a.at)
                              if a.user_id != requester and now < a.at + policy.expires_after))
