"""Traffic gates in a run: a baseline before each forward wave, an observation after it, and
the soak's verdict over every moved workload before Complete is offered.

A breach (or a metrics source that cannot answer) holds the run: further waves wait, and the
card offers Roll back and Continue. Continuing past a breach needs an override with a reason
from someone the action's approval policy counts; it is audited. With `on_breach: rollback`
the bot starts the data-plane rollback itself. "No verdict" (too little traffic) never counts
as a pass: a wave of only quiet workloads goes on, but the soak must pass, or be overridden.

Step state, run-wide (the card reads it): HOLD while a gate holds the run, LAST the latest
verdict, OVERRIDE the person's override of the gate HOLD names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config.gates import OnBreach, TrafficConfig
from bot.config.settings import ClusterConfig
from bot.store.repository import Store
from bot.traffic.signals import (
    Signals,
    Window,
    WorkloadKey,
    figures_from_json,
    figures_to_json,
)
from bot.traffic.verdicts import Outcome, Verdict, compare
from bot.upgrade.errors import GiveUp, MetricsUnavailable, TrafficHeld
from bot.upgrade.kinds import AuditKind, StepKind
from bot.upgrade.phases import Action, Event, Phase
from bot.upgrade.plan import parse_ref
from bot.upgrade.records import Run
from bot.workflow.checks import TrafficCheck
from bot.workflow.ports import TrafficPort
from bot.workflow.steps import Ctx, Paused, StepResult, Wait

HOLD, LAST, OVERRIDE = "traffic.hold", "traffic.last", "traffic.override"
# The soak is judged over the time since the last wave settled, but never less than this.
MIN_SOAK_WINDOW = 5.0
MIN_REASON, MAX_REASON = 8, 500  # characters of an override's reason
CHECKED_PHASES = frozenset({Phase.VERIFYING, Phase.AWAITING_DECISION})


def key_of(ref_text: str) -> WorkloadKey:
    ref = parse_ref(ref_text)
    return WorkloadKey(ref.namespace, ref.name)


def override_hint(cluster: str) -> str:
    return (f"Roll back on the card, or continue past it with `/mesh-upgrade override "
            f"{cluster} <why it is safe>` (an approver; the reason is audited).")


@dataclass
class TrafficGate:
    """The WaveGate of a forward roll on a cluster with traffic gates."""

    ctx: Ctx
    source: TrafficPort
    config: TrafficConfig

    def before(self, workloads: list[str]) -> dict[str, Any]:
        """The wave's workloads over the baseline window, before anything of it restarts.
        A source that fails pauses the run here, before the wave changed anything."""
        window = Window(self.ctx.now(), self.config.baseline_window.total_seconds())
        try:
            figures = self.source.read([key_of(w) for w in workloads], window)
        except MetricsUnavailable as exc:
            raise Paused(f"Could not take the traffic baseline before the next wave: "
                         f"{exc.message}", f"{exc.hint} Retry now on the card tries again; "
                         "nothing of the wave has restarted yet.") from None
        return {"baseline": {"window": window.to_json(), "figures": figures_to_json(figures)}}

    def after(self, i: int, total: int, rec: dict[str, Any]) -> StepResult | None:
        ctx, gate = self.ctx, f"{self.ctx.prefix}.wave.{i}"
        if "baseline" not in rec or _overridden(ctx.store, ctx.run.id, gate):
            _release_hold(ctx, gate)
            return None
        label = f"wave {i + 1} of {total}"
        recorded = ctx.get(f"wave.{i}.traffic")
        if recorded is None:
            seconds = self.config.observation_window.total_seconds()
            end = datetime.fromisoformat(rec["settled_at"]) + timedelta(seconds=seconds)
            left = (end - ctx.now()).total_seconds()
            if left > 0:
                return ctx.result(StepKind.TRAFFIC, f"watching the traffic of {label}, "
                                  f"{left:.0f} s left", Wait.TIME, left)
            verdict = self._observe(rec, Window(end, seconds))
            if verdict.outcome is Outcome.UNAVAILABLE:  # not kept: Continue reads again
                _announce(ctx, self.source, self.config, verdict, seconds,
                          {"gate": "wave", "wave": i + 1, "of": total, "held": True})
                _hold(ctx, gate, label, verdict, Action.ROLL)
                raise Paused(f"Could not judge the traffic of {label}: {verdict.error}",
                             "Continue on the card reads again; "
                             f"{override_hint(ctx.run.cluster)}")
            if ctx.store.claim_step(ctx.run.id, ctx.key(f"wave.{i}.traffic"), verdict.to_json()):
                rollback = verdict.outcome is Outcome.BREACHED and \
                    self.config.on_breach is OnBreach.ROLLBACK
                _announce(ctx, self.source, self.config, verdict, seconds,
                          {"gate": "wave", "wave": i + 1, "of": total,
                           "held": verdict.outcome is Outcome.BREACHED and not rollback})
            recorded = ctx.get(f"wave.{i}.traffic")
        verdict = Verdict.from_json(recorded)
        if verdict.outcome is not Outcome.BREACHED:
            return None
        why = f"traffic breached after {label}: {_worst(verdict)}"
        if self.config.on_breach is OnBreach.ROLLBACK:
            return ctx.move(Event.ROLLBACK, why, {"traffic": True})
        _hold(ctx, gate, label, verdict, Action.ROLL)
        raise Paused(f"Traffic breached after {label}: {_worst(verdict)}. Further waves wait.",
                     override_hint(ctx.run.cluster))

    def _observe(self, rec: dict[str, Any], window: Window) -> Verdict:
        before = figures_from_json(rec["baseline"]["figures"])
        workloads = [key_of(w) for w in rec["workloads"]]
        try:
            after = self.source.read(workloads, window)
        except MetricsUnavailable as exc:
            return Verdict.unavailable(exc.message)
        return compare(before, after, workloads, self.config.thresholds(), window.seconds)


def soak_verdict(ctx: Ctx, entered: datetime) -> None:
    """At the end of the soak: every workload moved forward, over the time since the last
    wave settled, against its baseline; recorded once, and a HOLD on Complete unless it
    passed."""
    if ctx.traffic is None or ctx.config.traffic is None or ctx.get("traffic") is not None:
        return
    steps = ctx.store.steps(ctx.run.id)
    baselines = moved_baselines(steps)
    if not baselines:
        return
    config, now = ctx.config.traffic, ctx.now()
    seconds = max((now - (last_settled(steps) or entered)).total_seconds(), MIN_SOAK_WINDOW)
    verdict = judge_moved(ctx.traffic, config, baselines, Window(now, seconds))
    at = now.isoformat()
    if not ctx.store.claim_step(ctx.run.id, ctx.key("traffic"), at):
        return
    held = not verdict.passed
    _announce(ctx, ctx.traffic, config, verdict, seconds, {"gate": "soak", "held": held})
    if held:
        _hold(ctx, f"soak:{at}", "the soak", verdict, Action.COMPLETE)
    else:
        ctx.store.release_step(ctx.run.id, HOLD)


def judge_moved(source: TrafficPort, config: TrafficConfig,
                baselines: Mapping[WorkloadKey, Signals], window: Window) -> Verdict:
    try:
        after = source.read(sorted(baselines), window)
    except MetricsUnavailable as exc:
        return Verdict.unavailable(exc.message)
    return compare(baselines, after, baselines, config.thresholds(), window.seconds)


def moved_baselines(steps: Mapping[str, Any]) -> dict[WorkloadKey, Signals]:
    """Each workload's baseline from the forward waves, the earliest when it rolled twice
    (a Restart from the decision): the traffic before the run changed anything."""
    found: dict[WorkloadKey, tuple[str, Signals]] = {}
    for key, rec in steps.items():
        if not key.startswith("rolling.") or not isinstance(rec, dict) or "baseline" not in rec:
            continue
        end = rec["baseline"]["window"]["end"]
        for workload, signals in figures_from_json(rec["baseline"]["figures"]).items():
            if workload not in found or end < found[workload][0]:
                found[workload] = (end, signals)
        for text in rec["workloads"]:  # a workload with no traffic at all has no figures
            workload = key_of(text)
            if workload not in found:
                seconds = float(rec["baseline"]["window"]["seconds"])
                found[workload] = (end, Signals.silent(seconds))
    return {w: s for w, (_, s) in found.items()}


def last_settled(steps: Mapping[str, Any]) -> datetime | None:
    times = [datetime.fromisoformat(rec["settled_at"]) for key, rec in steps.items()
             if key.startswith("rolling.") and isinstance(rec, dict) and "settled_at" in rec]
    return max(times, default=None)


def hold_of(store: Store, run: Run) -> dict[str, Any] | None:
    held = store.step(run.id, HOLD)
    return held if isinstance(held, dict) else None


def refuse_unless_overridden(store: Store, run: Run, action: Action) -> None:
    """A click on Continue (Roll while held) or Complete while a breached gate holds the run,
    and nobody overrode it: refused, naming the override command."""
    held = hold_of(store, run)
    if held is None or held["action"] != action.value or _overridden(store, run.id,
                                                                     held["gate"]):
        return
    if held["outcome"] == Outcome.UNAVAILABLE.value and action is Action.ROLL:
        return  # Continue reads the source again
    raise TrafficHeld(f"The traffic gate after {held['label']} holds run {run.id}: "
                      f"{held['summary']}.", override_hint(run.cluster))


def held_gate(store: Store, run: Run) -> dict[str, Any]:
    """The gate that holds `run`, which an override would go past; refused when none does."""
    held = hold_of(store, run)
    if held is None:
        raise GiveUp(f"No traffic gate holds run {run.id} on {run.cluster}; there is "
                     "nothing to override.", "Use the buttons on the card.")
    return held


def record_override(store: Store, run: Run, held: dict[str, Any], user: str, reason: str,
                    now: datetime) -> None:
    """`user`'s override of the gate `held` (the run's HOLD)."""
    store.put_step(run.id, OVERRIDE, {"gate": held["gate"], "by": user, "reason": reason,
                                      "at": now.isoformat()})


def override_reason(reason: str, cluster: str, verb: str) -> str:
    """The reason a person gives to go past a gate or a window, as it is audited; a clear
    refusal when there is none worth the name."""
    text = " ".join(reason.split())
    if len(text) < MIN_REASON:
        raise GiveUp(f"`{verb}` needs a reason, in a few words.",
                     f"For example: `/mesh-upgrade {verb} {cluster} {_EXAMPLES[verb]}`.")
    return text[:MAX_REASON]


_EXAMPLES = {"override": "5xx are from a batch client we retire today",
             "rollback-now": "checkout fails for 20 % of users since the roll"}


def complete_blockers(store: Store, run: Run) -> tuple[str, ...]:
    """What the traffic gates hold against Complete (the card disables it)."""
    held = hold_of(store, run)
    if held is None or held["action"] != Action.COMPLETE.value or \
            _overridden(store, run.id, held["gate"]):
        return ()
    return (f"traffic over {held['label']}: {held['summary']} (an approver may override: "
            f"/mesh-upgrade override {run.cluster} <reason>)",)


def live_traffic(store: Store, run: Run, source: TrafficPort | None, config: ClusterConfig,
                 now: datetime) -> TrafficCheck | None:
    """The moved workloads over the last observation window against their baselines, for
    the checks posted while the canary soaks; None before anything moved, or without gates."""
    if source is None or config.traffic is None or run.phase not in CHECKED_PHASES:
        return None
    baselines = moved_baselines(store.steps(run.id))
    if not baselines:
        return None
    seconds = config.traffic.observation_window.total_seconds()
    verdict = judge_moved(source, config.traffic, baselines, Window(now, seconds))
    return TrafficCheck(verdict, seconds, source.label)


def _overridden(store: Store, run_id: int, gate: str) -> bool:
    done = store.step(run_id, OVERRIDE)
    return isinstance(done, dict) and done.get("gate") == gate


def _hold(ctx: Ctx, gate: str, label: str, verdict: Verdict, action: Action) -> None:
    ctx.store.put_step(ctx.run.id, HOLD, {"gate": gate, "label": label,
                                          "outcome": verdict.outcome.value,
                                          "summary": verdict.summary(), "action": action.value})


def _release_hold(ctx: Ctx, gate: str) -> None:
    held = ctx.store.step(ctx.run.id, HOLD)
    if isinstance(held, dict) and held.get("gate") == gate:
        ctx.store.release_step(ctx.run.id, HOLD)


def _announce(ctx: Ctx, source: TrafficPort, config: TrafficConfig, verdict: Verdict,
              seconds: float, detail: dict[str, Any]) -> None:
    label = f"wave {detail['wave']} of {detail['of']}" if detail["gate"] == "wave" \
        else "the soak"
    ctx.store.put_step(ctx.run.id, LAST, {"label": label, "outcome": verdict.outcome.value,
                                          "summary": verdict.summary(),
                                          "at": ctx.now().isoformat()})
    ctx.audit(AuditKind.TRAFFIC_VERDICT, f"traffic of {label}: {verdict.outcome.value}",
              {**detail, "verdict": verdict.to_json(), "window_seconds": seconds,
               "source": source.label, "on_breach": config.on_breach.value})
    ctx.gate(f"traffic:{detail['gate']}", verdict.outcome.value, verdict.summary())


def _worst(verdict: Verdict) -> str:
    worst = verdict.breaches[:3]
    return "; ".join(f"{j.workload.name} in {j.workload.namespace}: {', '.join(j.reasons)}"
                     for j in worst) or verdict.summary()
