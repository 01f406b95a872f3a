"""The steps of a minor-revision canary upgrade, one function per phase.

Each function does at most one side effect per call and returns what happened; sub-steps that
are already done (by the records in step state, or by what the cluster shows) are skipped.
The order inside each phase is the procedure's (seed/procedure.md, steps 2-9).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.upgrade.addon import shared_config
from bot.upgrade.errors import GateRefused
from bot.upgrade.kinds import AuditKind, StepKind
from bot.upgrade.phases import Action, Event, Phase
from bot.upgrade.plan import (
    Observation,
    Waves,
    canary_namespaces,
    check_complete,
    check_rolled_back,
    namespace_moves,
    restart_waves,
    tags_to_move,
)
from bot.workflow.steps import Ctx, Paused, StepResult, Wait, arm_change, run_waves


def planned(ctx: Ctx) -> StepResult:
    return ctx.result(StepKind.AWAIT_APPROVAL, "waiting for approval to start", Wait.APPROVAL,
                      actions=(Action.START,))


def starting(ctx: Ctx) -> StepResult:
    old, new = ctx.plan.current, ctx.plan.target
    if ctx.get("shared_config") is None:
        copy = ctx.cluster.copy_shared_config(old, new)
        ctx.put("shared_config", copy.outcome)
        if copy.outcome != "no-source":
            ctx.audit(AuditKind.CONFIG_COPIED,
                      f"shared MeshConfig {copy.source} -> {copy.target}: {copy.outcome}")
    done = arm_change(ctx, "put", (old, new))
    if done is not None:
        return done
    if ctx.plan.use_tags and (moved := _ensure_tags(ctx, old, new)):
        return moved
    return _await_control_plane(ctx, old, new)


def _ensure_tags(ctx: Ctx, old: str, new: str) -> StepResult | None:
    cluster = ctx.cluster
    changes = [cluster.set_tag(ctx.plan.stable_tag, old), cluster.set_tag(ctx.plan.canary_tag, new)]
    made = [c for c in changes if c.changed]
    for c in made:
        ctx.audit(AuditKind.TAG_SET, f"istioctl tag set {c.tag} --revision {c.revision}",
                  {"webhook": c.webhook, "previous": c.previous})
    return ctx.result(StepKind.TAGS, "tags: " + ", ".join(f"{c.tag} -> {c.revision}"
                                                          for c in made)) if made \
        else None


def _await_control_plane(ctx: Ctx, old: str, new: str) -> StepResult:
    want = {g.name.removesuffix(f"-{old}") for g in ctx.cluster.plane_status(old).gateways}
    status = ctx.cluster.plane_status(new)
    have = {g.name.removesuffix(f"-{new}") for g in status.gateways}
    if status.ready and want <= have:
        return ctx.move(Event.CONTROL_PLANE_READY, f"istiod-{new} and its gateways are Ready")
    since = ctx.get("waiting_since") or ctx.claim("waiting_since", ctx.now().isoformat())
    waited = ctx.now().timestamp() - _parse(since)
    limit = ctx.config.restart.progress_timeout.total_seconds()
    missing = [status.istiod.message] + [f"{g.name}: {g.message}" for g in status.gateways
                                         if not g.is_ready]
    missing += [f"no gateway {m}-{new} yet" for m in sorted(want - have)]
    if waited > limit:
        raise Paused(f"The {new} control plane is not Ready after {waited:.0f} s: "
                     f"{'; '.join(missing)}",
                     "Check `kubectl get pods -n aks-istio-system` (Pending: scale the cluster "
                     "up); when it is Ready, Retry now on the card goes on, or roll back.")
    return ctx.result(StepKind.CONTROL_PLANE,
                      f"waiting for the {new} control plane: {'; '.join(missing)}", Wait.TIME, 2.0)


def canary_ready(ctx: Ctx) -> StepResult:
    return ctx.result(StepKind.AWAIT_APPROVAL,
                      "both control planes serve; waiting for approval to roll", Wait.APPROVAL,
                      actions=(Action.ROLL, Action.ROLLBACK))


def rolling(ctx: Ctx) -> StepResult:
    old, new = ctx.plan.current, ctx.plan.target
    wave = _roll_onto(ctx, old, new)
    return wave or ctx.move(Event.ROLLED_OUT, f"every wave rolled out onto {new}")


def _roll_onto(ctx: Ctx, source: str, target: str) -> StepResult | None:
    """Move tags and namespaces from `source` to `target`, then restart what still runs on
    `source` wave by wave (rolling forward and rolling back); None when nothing is left."""
    moved = _move_namespaces(ctx, source, target)
    if moved is not None:
        return moved

    def compute() -> Waves:
        seen = ctx.observe()
        on_target = {ns.name for ns in seen.injections if ns.injected and ns.revision == target}
        return restart_waves(ctx.settings, seen.census, source, on_target)

    return run_waves(ctx, compute)


def _move_namespaces(ctx: Ctx, source: str, target: str) -> StepResult | None:
    """Point the tags on `source` at `target`, and relabel the namespaces no tag carries."""
    done: list[str] = []
    for tag in tags_to_move(ctx.settings, ctx.cluster.list_tags(), source):
        change = ctx.cluster.set_tag(tag, target)
        if change.changed:
            ctx.audit(AuditKind.TAG_SET, f"istioctl tag set {tag} --revision {target} --overwrite",
                      {"previous": change.previous, "webhook": change.webhook})
            done.append(f"tag {tag} -> {target}")
    injections = ctx.cluster.namespace_injection()
    relabel = [(m.namespace, m.to) for m in namespace_moves(ctx.settings, injections, source,
                                                             target) if m.via == "relabel"]
    relabel += [(ns, ctx.plan.stable_tag) for ns in canary_namespaces(ctx.settings, injections)]
    for namespace, value in relabel:
        if ctx.cluster.relabel(namespace, value):
            ctx.audit(AuditKind.NAMESPACE_LABELLED,
                      f"kubectl label namespace {namespace} istio.io/rev={value} --overwrite")
            done.append(f"{namespace} -> {value}")
    return ctx.result(StepKind.MOVE_NAMESPACES, f"moved: {', '.join(done)}") if done else None


def verifying(ctx: Ctx) -> StepResult:
    entered = max(c.at for c in ctx.store.history(ctx.run.id) if c.to_phase is Phase.VERIFYING)
    left = entered + ctx.config.soak_time - ctx.now()
    if left > timedelta(0):
        return ctx.result(StepKind.SOAK, f"soaking, {left.total_seconds():.0f} s left", Wait.TIME,
                          left.total_seconds())
    return ctx.move(Event.SOAK_OVER, f"soaked for {ctx.config.soak_time}")


def awaiting_decision(ctx: Ctx) -> StepResult:
    return ctx.result(StepKind.AWAIT_APPROVAL, "waiting for complete or rollback", Wait.APPROVAL,
                      actions=(Action.COMPLETE, Action.ROLLBACK, Action.RESTART))


def completing(ctx: Ctx) -> StepResult:
    old, new = ctx.plan.current, ctx.plan.target
    if ctx.get("put") is None:
        seen = ctx.observe()
        health = ctx.cluster.check_health(_scope(ctx, seen), ctx.run.updated_at)
        try:
            check_complete(old, seen, health)
        except GateRefused as refused:
            raise Paused(refused.message, refused.hint) from None
    done = arm_change(ctx, "put", (new,))
    if done is not None:
        return done
    return _clean_up(ctx, removed=old) or ctx.move(Event.FINISHED, f"{old} removed")


def rolling_back(ctx: Ctx) -> StepResult:
    old, new = ctx.plan.current, ctx.plan.target
    wave = _roll_onto(ctx, new, old)
    if wave is not None:
        return wave
    if ctx.get("put") is None and (waiting := _gate_rollback(ctx, new)):
        return waiting
    done = arm_change(ctx, "put", (old,))
    if done is not None:
        return done
    return _clean_up(ctx, removed=new) or ctx.move(Event.FINISHED, f"{new} removed")


def _gate_rollback(ctx: Ctx, new: str) -> StepResult | None:
    try:
        check_rolled_back(new, ctx.plan.canary_tag, ctx.observe())
    except GateRefused as refused:  # old pods may still be terminating after the last wave
        ctx.recheck(refused.message, refused.hint)
    return None


def _clean_up(ctx: Ctx, removed: str) -> StepResult | None:
    """After ARM dropped `removed`: its shared MeshConfig and the canary tag go too."""
    done = []
    if ctx.cluster.delete_shared_config(removed):
        ctx.audit(AuditKind.CONFIG_DELETED, f"kubectl delete configmap {shared_config(removed)}")
        done.append(f"{shared_config(removed)} deleted")
    if ctx.plan.use_tags:
        for ns in canary_namespaces(ctx.settings, ctx.cluster.namespace_injection()):
            ctx.cluster.relabel(ns, ctx.plan.stable_tag)
            ctx.audit(AuditKind.NAMESPACE_LABELLED,
                      f"kubectl label namespace {ns} istio.io/rev={ctx.plan.stable_tag}")
        removal = ctx.cluster.remove_tag(ctx.plan.canary_tag)
        if removal.deleted:
            ctx.audit(AuditKind.TAG_REMOVED, f"istioctl tag remove {ctx.plan.canary_tag}",
                      {"webhooks": list(removal.deleted)})
            done.append(f"tag {ctx.plan.canary_tag} removed")
    return ctx.result(StepKind.CLEAN_UP, "; ".join(done)) if done else None


def _scope(ctx: Ctx, seen: Observation) -> list[str]:
    return sorted({ns for ns in seen.census.by_namespace if ctx.settings.in_scope(ns)})


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()
