"""The steps of a minor-revision canary upgrade, one function per phase.

Each function does at most one side effect per call and returns what happened; sub-steps that
are already done (by the records in step state, or by what the cluster shows) are skipped.
The order inside each phase is the procedure's (seed/procedure.md, steps 2-9).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.upgrade.addon import shared_config
from bot.upgrade.cluster_facts import TagChange
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
)
from bot.upgrade.readiness import canary_gaps, removal_gaps
from bot.upgrade.tag_plan import KeptTag
from bot.workflow.steps import (
    Ctx,
    OperationFailed,
    Paused,
    StepResult,
    Wait,
    WaveGate,
    arm_change,
    run_waves,
)
from bot.workflow.traffic import HOLD, TrafficGate, soak_verdict


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
                      f"shared MeshConfig {copy.source} -> {copy.target}: {copy.outcome}",
                      {"source": copy.source, "target": copy.target, "outcome": copy.outcome})
    done = arm_change(ctx, "put", (old, new))
    if done is not None:
        return done
    if ctx.plan.use_tags and (moved := _ensure_tags(ctx, old, new)):
        return moved
    return _await_control_plane(ctx, old, new)


def _ensure_tags(ctx: Ctx, old: str, new: str) -> StepResult | None:
    """The stable tag on `old`; in-scope namespaces on an earlier canary tag relabelled to it
    (their injection does not change); then the canary tag on `new`, if the plan says so."""
    plan, cluster = ctx.plan, ctx.cluster
    done = []
    stable = cluster.set_tag(plan.stable_tag, old)
    if stable.changed:
        _audit_tag(ctx, stable)
        done.append(f"{stable.tag} -> {stable.revision}")
    canary = plan.tag_plan(plan.canary_tag)
    for namespace in canary.relabel_first if canary else ():
        if cluster.relabel(namespace, plan.stable_tag):
            ctx.audit(AuditKind.NAMESPACE_LABELLED, f"kubectl label namespace {namespace} "
                      f"istio.io/rev={plan.stable_tag} --overwrite",
                      {"namespace": namespace, "value": plan.stable_tag})
            done.append(f"{namespace} -> {plan.stable_tag}")
    if plan.canary_at_start():
        change = cluster.set_tag(plan.canary_tag, new)
        if change.changed:
            _audit_tag(ctx, change)
            done.append(f"{change.tag} -> {change.revision}")
    return ctx.result(StepKind.TAGS, "tags: " + ", ".join(done)) if done else None


def _audit_tag(ctx: Ctx, change: TagChange) -> None:
    overwrite = " --overwrite" if change.previous else ""
    ctx.audit(AuditKind.TAG_SET,
              f"istioctl tag set {change.tag} --revision {change.revision}{overwrite}",
              {"webhook": change.webhook, "previous": change.previous, "tag": change.tag,
               "revision": change.revision})


def _await_control_plane(ctx: Ctx, old: str, new: str) -> StepResult:
    """Step 5: istiod and every gateway of both revisions Ready, before Roll is offered."""
    gaps = canary_gaps(ctx.cluster.plane_status(old), ctx.cluster.plane_status(new))
    if not gaps:
        return ctx.move(Event.CONTROL_PLANE_READY,
                        f"both control planes serve: istiod-{old}, istiod-{new} and their "
                        "gateways are Ready")
    return _wait_for_planes(ctx, gaps, f"both control planes ({old} and {new}) to be Ready",
                            "Check `kubectl get pods -n aks-istio-system` and the gateway "
                            "namespaces (Pending: scale the cluster up); when they are Ready, "
                            "Retry now on the card goes on, or roll back.")


def _await_removal(ctx: Ctx, kept: str, removed: str) -> StepResult | None:
    """After complete or rollback: `kept` serves and nothing of `removed` is left, or the run
    says what is wrong instead of claiming success; None when it is so."""
    gaps = removal_gaps(ctx.cluster.plane_status(kept), ctx.cluster.plane_status(removed))
    if not gaps:
        return None
    return _wait_for_planes(ctx, gaps, f"{removed}'s control plane to go and {kept}'s to serve",
                            f"ARM no longer lists {removed}. Check `kubectl get pods -n "
                            "aks-istio-system` and the gateway namespaces; when only "
                            f"{kept} is left and Ready, Retry now on the card finishes the run.")


def _wait_for_planes(ctx: Ctx, gaps: tuple[str, ...], what: str, hint: str) -> StepResult:
    """Look again in 2 s; pause with `hint` once the restart progress timeout has passed.
    The wait starts afresh after the pause: a retry gives a gateway still coming up its time."""
    since = ctx.get("waiting_since") or ctx.claim("waiting_since", ctx.now().isoformat())
    waited = ctx.now().timestamp() - _parse(since)
    if waited > ctx.config.restart.progress_timeout.total_seconds():
        ctx.store.release_step(ctx.run.id, ctx.key("waiting_since"))
        raise Paused(f"Still waiting for {what} after {waited:.0f} s: {'; '.join(gaps)}", hint)
    return ctx.result(StepKind.CONTROL_PLANE, f"waiting for {what}: {'; '.join(gaps)}",
                      Wait.TIME, 2.0)


def canary_ready(ctx: Ctx) -> StepResult:
    return ctx.result(StepKind.AWAIT_APPROVAL,
                      "both control planes serve; waiting for approval to roll", Wait.APPROVAL,
                      actions=(Action.ROLL, Action.ROLLBACK))


def rolling(ctx: Ctx) -> StepResult:
    old, new = ctx.plan.current, ctx.plan.target
    wave = _roll_onto(ctx, old, new, _traffic_gate(ctx))
    return wave or ctx.move(Event.ROLLED_OUT, f"every wave rolled out onto {new}")


def _traffic_gate(ctx: Ctx) -> WaveGate | None:
    """Rolling forward on a cluster with traffic gates; a rollback is never held by them."""
    if ctx.traffic is None or ctx.config.traffic is None:
        return None
    return TrafficGate(ctx, ctx.traffic, ctx.config.traffic)


def _roll_onto(ctx: Ctx, source: str, target: str, gate: WaveGate | None = None
               ) -> StepResult | None:
    """Move tags and namespaces from `source` to `target`, then restart what still runs on
    `source` wave by wave (rolling forward and rolling back); None when nothing is left."""
    moved = _move_namespaces(ctx, source, target)
    if moved is not None:
        return moved

    def compute() -> Waves:
        seen = ctx.observe()
        on_target = {ns.name for ns in seen.injections if ns.injected and ns.revision == target}
        return restart_waves(ctx.settings, seen.census, source, on_target)

    return run_waves(ctx, compute, gate)


def _move_namespaces(ctx: Ctx, source: str, target: str) -> StepResult | None:
    """Point the plan's following tags on `source` at `target`, and relabel the namespaces no
    tag carries. Tags the plan does not name are never moved."""
    done: list[str] = []
    where = {t.tag: t.revision for t in ctx.cluster.list_tags() if t.tag}
    for tag in _moving_tags(ctx, source, where):
        change = ctx.cluster.set_tag(tag, target)
        if change.changed:
            _audit_tag(ctx, change)
            done.append(f"tag {tag} -> {target}")
    injections = ctx.cluster.namespace_injection()
    relabel = [(m.namespace, m.to) for m in namespace_moves(ctx.settings, injections, source,
                                                             target) if m.via == "relabel"]
    relabel += [(ns, ctx.plan.stable_tag) for ns in canary_namespaces(ctx.settings, injections)]
    for namespace, value in relabel:
        if ctx.cluster.relabel(namespace, value):
            ctx.audit(AuditKind.NAMESPACE_LABELLED,
                      f"kubectl label namespace {namespace} istio.io/rev={value} --overwrite",
                      {"namespace": namespace, "value": value})
            done.append(f"{namespace} -> {value}")
    return ctx.result(StepKind.MOVE_NAMESPACES, f"moved: {', '.join(done)}") if done else None


def _moving_tags(ctx: Ctx, source: str, where: dict[str, str]) -> list[str]:
    """The plan's following tags on `source`; rolling back, also the canary tag while
    namespaces outside the bot's scope use it, since the revision under it is removed."""
    tags = [t for t in ctx.plan.retag if where.get(t) == source]
    canary = ctx.plan.canary_tag
    rolling_back = source == ctx.plan.target
    if ctx.plan.use_tags and rolling_back and where.get(canary) == source \
            and canary not in tags and _outside_users(ctx, canary):
        tags.append(canary)
    return tags


def _outside_users(ctx: Ctx, tag: str) -> tuple[str, ...]:
    """Namespaces out of the bot's scope whose new pods `tag` injects."""
    return tuple(ns.name for ns in ctx.cluster.namespace_injection()
                 if ns.tag == tag and ns.injected and not ctx.settings.in_scope(ns.name))


def verifying(ctx: Ctx) -> StepResult:
    entered = max(c.at for c in ctx.store.history(ctx.run.id) if c.to_phase is Phase.VERIFYING)
    left = entered + ctx.config.soak_time - ctx.now()
    if left > timedelta(0):
        return ctx.result(StepKind.SOAK, f"soaking, {left.total_seconds():.0f} s left", Wait.TIME,
                          left.total_seconds())
    soak_verdict(ctx, entered)
    return ctx.move(Event.SOAK_OVER, f"soaked for {ctx.config.soak_time}",
                    {"soak_seconds": ctx.config.soak_time.total_seconds()})


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
            ctx.gate("complete", "refused", refused.message)
            raise Paused(refused.message, refused.hint) from None
        ctx.gate("complete", "passed")
    try:
        done = arm_change(ctx, "put", (new,))
    except OperationFailed as failed:
        # ARM's goal is already [new]: a rollback PUT [old] would be refused, but the complete
        # may be sent again. So the run stays here, paused, and Retry now sends it anew.
        ctx.store.release_step(ctx.run.id, ctx.key("put"))
        raise Paused(failed.message, "Retry now sends the complete again (ARM accepts it "
                     "after a failure); look at the cluster first (az aks show). Cancel "
                     "leaves it as it is.") from None
    if done is not None:
        return done
    return _clean_up(ctx, removed=old) or _await_removal(ctx, kept=new, removed=old) or \
        ctx.move(Event.FINISHED, f"{old} removed; the {new} control plane serves")


def rolling_back(ctx: Ctx) -> StepResult:
    old, new = ctx.plan.current, ctx.plan.target
    ctx.store.release_step(ctx.run.id, HOLD)  # a traffic gate holds nothing on the way back
    wave = _roll_onto(ctx, new, old)
    if wave is not None:
        return wave
    if ctx.get("put") is None and (waiting := _gate_rollback(ctx, new)):
        return waiting
    done = arm_change(ctx, "put", (old,))
    if done is not None:
        return done
    return _clean_up(ctx, removed=new) or _await_removal(ctx, kept=old, removed=new) or \
        ctx.move(Event.FINISHED, f"{new} removed; the {old} control plane serves")


def _gate_rollback(ctx: Ctx, new: str) -> StepResult | None:
    try:
        check_rolled_back(new, ctx.plan.canary_tag, ctx.observe())
    except GateRefused as refused:  # old pods may still be terminating after the last wave
        ctx.gate("rolled_back", "waiting", refused.message)
        ctx.recheck(refused.message, refused.hint)
    ctx.gate("rolled_back", "passed")
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
                      f"kubectl label namespace {ns} istio.io/rev={ctx.plan.stable_tag}",
                      {"namespace": ns, "value": ctx.plan.stable_tag})
        done += _remove_or_keep_canary(ctx, removed)
    return ctx.result(StepKind.CLEAN_UP, "; ".join(done)) if done else None


def _remove_or_keep_canary(ctx: Ctx, removed: str) -> list[str]:
    """`istioctl tag remove` unless namespaces the bot may not touch still use the tag: then
    it stays (on the surviving revision), audited once with what finishes the job."""
    tag = ctx.plan.canary_tag
    users = _outside_users(ctx, tag)
    if not users:
        removal = ctx.cluster.remove_tag(tag)
        if removal.deleted:
            ctx.audit(AuditKind.TAG_REMOVED, f"istioctl tag remove {tag}",
                      {"webhooks": list(removal.deleted), "tag": tag})
            return [f"tag {tag} removed"]
        return []
    survivor = ctx.plan.current if removed == ctx.plan.target else ctx.plan.target
    kept = KeptTag(tag, survivor, users)
    if ctx.get("tag_kept") is None:
        ctx.put("tag_kept", list(users))
        ctx.audit(AuditKind.TAG_KEPT, kept.text(),
                  {"tag": tag, "revision": survivor, "namespaces": list(users),
                   "command": kept.command})
        return [f"tag {tag} kept for {', '.join(users)}"]
    return []


def _scope(ctx: Ctx, seen: Observation) -> list[str]:
    return sorted({ns for ns in seen.census.by_namespace if ctx.settings.in_scope(ns)})


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()
