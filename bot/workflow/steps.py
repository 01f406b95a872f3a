"""What every step of a run shares: its context, its result, and the two durable side effects
that need care (an ARM revision change and a wave of restarts).

Both follow one rule: write down what is about to be done before doing it, then do it, then
write down that it is done. After a crash the note tells the next attempt to look before it
acts, so an ARM PUT is never sent twice and a workload never restarts twice in one wave.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NoReturn, Protocol

from bot.config.settings import ClusterConfig
from bot.store.repository import Store
from bot.upgrade.errors import GiveUp, RetryLater
from bot.upgrade.kinds import AuditKind, StepKind
from bot.upgrade.mesh_facts import Operation, OpState, Progress
from bot.upgrade.phases import Event, Phase, next_phase
from bot.upgrade.plan import Observation, Plan, Settings, Waves, parse_ref, ref_text
from bot.upgrade.records import NewAuditEntry, Run
from bot.workflow.events import EventSink, audited, gate_verdict, ignore
from bot.workflow.ports import ClusterPort, MeshPort, TrafficPort, observe
from bot.workflow.windows import closed

OPERATION_POLL_SECONDS = 5.0  # how soon to look at a running ARM operation again
# How long a step keeps trying before the run waits for a person:
RETRY_PATIENCE = 30  # consecutive RetryLater in one phase (API errors, throttling)
RECHECK_PATIENCE = 20  # looks at a gate while replaced pods may still be terminating
RECHECK_SECONDS = 3.0
AUTO_RETRY_KEY = "auto_retry_at"  # run-wide step state: when the bot tries a paused step again


class Wait(StrEnum):
    NO = "no"  # more to do: advance again now
    APPROVAL = "approval"  # a person must approve an action
    TIME = "time"  # a soak, a control plane coming up, a retry after an error
    OPERATION = "operation"  # an ARM operation runs
    PERSON = "person"  # paused: a person must fix something, then resume or roll back
    DONE = "done"  # the run is over


@dataclass(frozen=True)
class StepResult:
    run_id: int
    phase: str
    kind: StepKind  # what the step did, for metrics (never parsed from `did`)
    did: str
    wait: Wait
    delay: float = 0.0  # seconds after which advancing again is useful
    actions: tuple[str, ...] = ()  # what the run waits for when wait is APPROVAL

    @property
    def waiting(self) -> bool:
        return self.wait is not Wait.NO


class OperationFailed(GiveUp):
    """An ARM operation ended Failed: the run moves to `failed` with the RP's reason."""


class Paused(GiveUp):
    """A step cannot go on until a person acts; the run keeps its phase."""


@dataclass
class Ctx:
    """One advance of one run: the store, the run as read, and the cluster's adapters."""

    store: Store
    run: Run
    plan: Plan
    settings: Settings
    config: ClusterConfig
    mesh: MeshPort
    cluster: ClusterPort
    now: Callable[[], datetime]
    prefix: str  # step keys of this visit of the phase: "<phase>.<visit>"
    events: EventSink = ignore  # told of each audit entry and gate verdict, once committed
    traffic: TrafficPort | None = None  # the cluster's metrics source, with traffic gates

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def get(self, name: str) -> Any:
        return self.store.step(self.run.id, self.key(name))

    def put(self, name: str, value: Any) -> None:
        self.store.put_step(self.run.id, self.key(name), value)

    def claim(self, name: str, value: Any) -> Any:
        """Record `value` unless another attempt already did; returns what is recorded."""
        self.store.claim_step(self.run.id, self.key(name), value)
        return self.get(name)

    def audit(self, kind: AuditKind, what: str, detail: dict[str, Any] | None = None,
              actor: str = "bot") -> None:
        entry = NewAuditEntry(actor, kind, what, detail or {})
        self.store.audit(actor, kind, what, cluster=self.run.cluster, run_id=self.run.id,
                         detail=entry.detail)
        self.events(audited(self.run, entry))

    def gate(self, gate: str, verdict: str, why: str = "") -> None:
        """A gate's verdict (passed, refused, waiting), for the logs; the run is unchanged."""
        self.events(gate_verdict(self.run, gate, verdict, why))

    def result(self, kind: StepKind, did: str, wait: Wait = Wait.NO, delay: float = 0.0,
               actions: tuple[str, ...] = ()) -> StepResult:
        return StepResult(self.run.id, self.run.phase.value, kind, did, wait, delay, actions)

    def move(self, event: Event, why: str, detail: dict[str, Any] | None = None) -> StepResult:
        """The run moves on after `event`; `detail` adds facts for the thread's wording."""
        to = next_phase(self.run.phase, event, self.run.kind)
        moved = NewAuditEntry("bot", AuditKind.PHASE_CHANGED, f"phase {to.value}",
                              {"event": event.value, "why": why, "to": to.value, **(detail or {})})
        before = self.run.phase
        self.run = self.store.transition(self.run.id, self.run.version, to, "bot", why, [moved])
        self.events(audited(self.run, moved, before))
        return self.result(StepKind.TRANSITION, f"{why}; now {to.value}")

    def observe(self) -> Observation:
        return observe(self.cluster)

    def recheck(self, message: str, hint: str) -> NoReturn:
        """A gate not met yet: look again in RECHECK_SECONDS, and after RECHECK_PATIENCE
        looks, pause for a person (with `hint`)."""
        tries = int(self.get("rechecks") or 0) + 1
        self.put("rechecks", tries)
        if tries >= RECHECK_PATIENCE:
            raise Paused(message, hint)
        raise RetryLater(message, RECHECK_SECONDS)


def arm_change(ctx: Ctx, name: str, target: tuple[str, ...]) -> StepResult | None:
    """Bring ARM's revisions to `target` once; None when that is done."""
    rec = ctx.get(name)
    if rec is not None and rec.get("done"):
        return None
    if rec is None or (rec["token"] is None and not rec.get("sent")
                       and ctx.mesh.observe(target).progress is Progress.NOT_SENT):
        return in_window(ctx, _ARM_STEPS.get(ctx.run.phase, "the ARM change")) or \
            _send(ctx, name, target)
    status = ctx.mesh.operation_status(Operation(tuple(rec["target"]), rec["token"]))
    if status.state is OpState.IN_PROGRESS:
        return ctx.result(StepKind.ARM_POLL,
                          f"ARM is applying {', '.join(target)} ({status.status or 'running'})",
                          Wait.OPERATION, OPERATION_POLL_SECONDS)
    if status.state is OpState.FAILED:
        ctx.put(name, {**rec, "failed": status.reason})
        ctx.audit(AuditKind.ARM_FAILED, "ARM operation failed",
                  {"target": list(target), "reason": status.reason})
        raise OperationFailed(f"ARM could not set the revisions to {', '.join(target)}: "
                              f"{status.reason or status.status}",
                              "Look at the cluster in the portal (az aks show); then roll back "
                              "through the bot, or fix it and cancel the run.")
    ctx.put(name, {**rec, "done": True})
    ctx.audit(AuditKind.ARM_SUCCEEDED, "ARM operation succeeded",
              {"target": list(target), "status": status.status})
    return ctx.result(StepKind.ARM_DONE, f"ARM now runs {', '.join(target)}")


def _send(ctx: Ctx, name: str, target: tuple[str, ...]) -> StepResult:
    # The intent goes first: a crash after the PUT leaves it, and the next attempt observes.
    ctx.put(name, {"target": list(target), "token": None, "sent": False})
    op = ctx.mesh.begin_set_revisions(target)
    ctx.put(name, {"target": list(target), "token": op.token, "sent": op.sent})
    ctx.audit(AuditKind.ARM_PUT, "ARM PUT managedCluster serviceMeshProfile.istio.revisions",
              {"target": list(target), "sent": op.sent, "note": op.note,
               "approved_by": approvers_of(ctx)})
    return ctx.result(StepKind.ARM_PUT, op.note or f"asked ARM for {', '.join(target)}",
                      Wait.OPERATION,
                      OPERATION_POLL_SECONDS)


_ARM_STEPS = {Phase.STARTING: "the start (ARM adds the new control plane)",
              Phase.COMPLETING: "Complete (ARM removes the old control plane)",
              Phase.ROLLING_BACK: "the rollback's ARM change"}


def in_window(ctx: Ctx, what: str) -> StepResult | None:
    """None when `what` may disturb traffic now. Else the run waits for the change window as
    a pause the bot ends by itself (so Cancel, Roll back and rollback-now stay possible), said
    once in the thread per step."""
    wait = closed(ctx.store, ctx.run, ctx.config, ctx.now(), what)
    if wait is None:
        return None
    if ctx.store.claim_step(ctx.run.id, ctx.key(f"window.{what}"), wait.to_json()) \
            and ctx.config.change_windows is not None:
        ctx.audit(AuditKind.WINDOW_WAIT, wait.text(),
                  {**wait.to_json(), "windows": ctx.config.change_windows.windows().describe()})
    retry_at = ctx.now() + timedelta(seconds=wait.delay)
    ctx.store.put_step(ctx.run.id, AUTO_RETRY_KEY, retry_at.isoformat())
    run = ctx.store.get_run(ctx.run.id)
    ctx.store.set_pause(run.id, run.version, wait.text()[0].upper() + wait.text()[1:] + ".",
                        "The bot goes on by itself when the window opens. To roll back before "
                        f"then: `/mesh-upgrade rollback-now {run.cluster} <reason>`; Cancel "
                        "(where the card offers it) gives the cluster back as it is.")
    return ctx.result(StepKind.WINDOW, wait.text(), Wait.TIME, wait.delay)


def approvers_of(ctx: Ctx) -> list[str]:
    """Who approved the action that led into this phase (from the phase history's note)."""
    for change in reversed(ctx.store.history(ctx.run.id)):
        if change.to_phase is ctx.run.phase:
            return [change.by]
    return []


def new_restart_id(now: datetime) -> str:
    """RFC 3339 with microseconds, so two waves never share an id (kubectl's is seconds)."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WaveGate(Protocol):
    """What decides between waves beside their rollouts (bot/workflow/traffic.py)."""

    def before(self, workloads: list[str]) -> dict[str, Any]:
        """Recorded with the wave before its first patch (a baseline)."""
        ...

    def after(self, i: int, total: int, rec: dict[str, Any]) -> StepResult | None:
        """Once the wave rolled out: None when the next wave may start, else why it waits."""
        ...


def run_waves(ctx: Ctx, compute: Callable[[], Waves], gate: WaveGate | None = None
              ) -> StepResult | None:
    """Restart the waves of this visit, one wave per call; None when all have rolled out
    (and, with `gate`, passed it)."""
    planned = ctx.get("waves")
    if planned is None:
        w = compute()
        planned = ctx.claim("waves", {"waves": [[ref_text(r) for r in wave] for wave in w.waves],
                                      "manual": [ref_text(r) for r in w.manual],
                                      "left": [ref_text(r) for r in w.left]})
        ctx.audit(AuditKind.WAVES_PLANNED, "planned restart waves", planned)
    waves: list[list[str]] = planned["waves"]
    for i, wave in enumerate(waves):
        rec = ctx.get(f"wave.{i}")
        if rec is not None and rec.get("done"):
            waiting = gate.after(i, len(waves), rec) if gate is not None else None
            if waiting is not None:
                return waiting
            continue
        if rec is None:  # workloads and restart id recorded before the first patch
            if waiting := in_window(ctx, f"wave {i + 1} of {len(waves)}"):
                return waiting
            extra = gate.before(wave) if gate is not None else {}
            rec = ctx.claim(f"wave.{i}", {"workloads": wave,
                                          "restart_id": new_restart_id(ctx.now()), **extra})
        return _run_wave(ctx, i, len(waves), rec)
    return None


def _run_wave(ctx: Ctx, i: int, total: int, rec: dict[str, Any]) -> StepResult:
    restart = ctx.config.restart
    report = ctx.cluster.restart_wave(
        [parse_ref(w) for w in rec["workloads"]], rec["restart_id"],
        concurrency=restart.max_concurrency,
        progress_timeout=restart.progress_timeout.total_seconds())
    detail = {"wave": i + 1, "of": total, "restart_id": rec["restart_id"],
              "patched": [str(w) for w in report.patched], "done": [str(w) for w in report.done],
              "skipped": [f"{w}: {why}" for w, why in report.skipped],
              "api_requests": report.requests, "approved_by": approvers_of(ctx)}
    ctx.audit(AuditKind.RESTART_WAVE, f"rollout restart wave {i + 1}/{total}", detail)
    if report.stuck is not None:
        ctx.put(f"wave.{i}", {**rec, "stuck": str(report.stuck.workload)})
        raise Paused(f"Rollout of {report.stuck.workload} is stuck: {report.stuck.reason}"
                     f"{_health_note(ctx, report.stuck.workload.namespace)}",
                     "Fix the workload (kubectl describe/logs), then resume the run; "
                     "or roll back.")
    ctx.put(f"wave.{i}", {**rec, "done": True, "settled_at": ctx.now().isoformat()})
    return ctx.result(StepKind.RESTART_WAVE,
                      f"wave {i + 1}/{total} rolled out: {len(report.done)} workload(s), "
                      f"{len(report.patched)} restarted")


def _health_note(ctx: Ctx, namespace: str) -> str:
    try:
        report = ctx.cluster.check_health([namespace], ctx.run.updated_at)
    except GiveUp:
        return ""
    looping = [c for w in report.workloads for c in w.crashlooping]
    return f" (CrashLoopBackOff: {', '.join(looping[:3])})" if looping else ""
