"""The upgrade plan and the gates, computed from observations alone (pure, no I/O).

One set of rules serves the plan shown before start, the moves made while rolling or rolling
back, and the gates before complete and at the end of a rollback: which namespaces move (by the
stable tag, or by relabelling), which workloads restart in which wave, and what is still left on
the revision about to be removed. The workflow gathers the observations; this module decides.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.upgrade.addon import ADDON_NAMESPACES, shared_config
from bot.upgrade.cluster_facts import (
    Census,
    HealthReport,
    NamespaceInjection,
    RevisionTag,
    WorkloadRef,
)
from bot.upgrade.errors import GateRefused, GiveUp
from bot.upgrade.mesh_facts import UpgradeOptions
from bot.upgrade.pod_notes import finished_notes, is_job, job_note, job_notes
from bot.upgrade.readiness import judge_health, unhealthy
from bot.upgrade.sidecar_mode import switch_note
from bot.upgrade.tag_plan import TagPlan, TagPolicy, following, plan_tags
from bot.upgrade.versions import as_revision

WAVE_PER_CONCURRENCY = 4  # a wave holds at most this many times max_concurrency workloads


@dataclass(frozen=True)
class Settings:
    """What the plan needs from a cluster's configuration (`ClusterConfig.settings()`)."""

    cluster: str
    stable_tag: str = "prod-stable"
    canary_tag: str = "prod-canary"
    use_tags: bool = True
    include: tuple[str, ...] = ()
    out_of_scope: frozenset[str] = frozenset()
    wave_size: int = 20

    def in_scope(self, namespace: str) -> bool:
        return namespace not in self.out_of_scope and (
            not self.include or namespace in self.include)


@dataclass(frozen=True)
class Observation:
    """What the cluster shows now: namespace labels resolved, the sidecar census, the tags."""

    injections: tuple[NamespaceInjection, ...]
    census: Census
    tags: tuple[RevisionTag, ...]


@dataclass(frozen=True)
class Move:
    namespace: str
    label: str | None  # its istio.io/rev label now
    via: str  # "tag": follows the stable tag; "relabel": gets istio.io/rev=<to>
    to: str


@dataclass(frozen=True)
class Waves:
    waves: tuple[tuple[WorkloadRef, ...], ...]
    manual: tuple[WorkloadRef, ...]  # injected, but no Deployment/StatefulSet/DaemonSet owns them
    left: tuple[WorkloadRef, ...]  # out of scope, or their namespace does not move
    jobs: tuple[WorkloadRef, ...] = ()  # Jobs with a running pod: they end, never roll out


@dataclass(frozen=True)
class Plan:
    cluster: str
    current: str
    target: str
    use_tags: bool
    stable_tag: str
    canary_tag: str
    shared_config: tuple[str, str]  # copy from, to (only if the first exists)
    retag: tuple[str, ...]  # tags that move to the target with the data plane
    moves: tuple[Move, ...]
    waves: tuple[tuple[WorkloadRef, ...], ...]
    manual: tuple[WorkloadRef, ...] = ()
    left: tuple[WorkloadRef, ...] = ()
    removals: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    tag_plans: tuple[TagPlan, ...] = ()  # what the run does to each tag (empty: older plans)

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "current": self.current, "target": self.target,
                "use_tags": self.use_tags, "stable_tag": self.stable_tag,
                "canary_tag": self.canary_tag, "shared_config": list(self.shared_config),
                "retag": list(self.retag),
                "moves": [vars(m) for m in self.moves],
                "waves": [[ref_text(w) for w in wave] for wave in self.waves],
                "manual": [ref_text(w) for w in self.manual],
                "left": [ref_text(w) for w in self.left],
                "removals": list(self.removals), "notes": list(self.notes),
                "tag_plans": [t.to_json() for t in self.tag_plans]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(data["cluster"], data["current"], data["target"], data["use_tags"],
                   data["stable_tag"], data["canary_tag"],
                   (data["shared_config"][0], data["shared_config"][1]), tuple(data["retag"]),
                   tuple(Move(**m) for m in data["moves"]),
                   tuple(tuple(parse_ref(w) for w in wave) for wave in data["waves"]),
                   tuple(parse_ref(w) for w in data["manual"]),
                   tuple(parse_ref(w) for w in data["left"]),
                   tuple(data["removals"]), tuple(data["notes"]),
                   tuple(TagPlan.from_json(t) for t in data.get("tag_plans") or ()))

    def workload_count(self) -> int:
        return sum(len(w) for w in self.waves)

    def tag_plan(self, tag: str) -> TagPlan | None:
        return next((t for t in self.tag_plans if t.tag == tag), None)

    def canary_at_start(self) -> bool:
        """Whether the canary tag moves to the target at start (plans made before tag plans
        existed always moved it)."""
        canary = self.tag_plan(self.canary_tag)
        return canary.start is not None if canary is not None else not self.tag_plans

    def tag_lines(self) -> tuple[str, ...]:
        return tuple(t.describe(self.current, self.target, self.stable_tag)
                     for t in self.tag_plans)


def ref_text(ref: WorkloadRef) -> str:
    return f"{ref.kind}/{ref.namespace}/{ref.name}"


def parse_ref(text: str) -> WorkloadRef:
    kind, namespace, name = text.split("/", 2)
    return WorkloadRef(kind, namespace, name)


def choose_target(options: UpgradeOptions, to: str | None) -> str:
    """`--to` if AKS offers it, else the lowest revision offered (one step at a time)."""
    if options.in_progress:
        raise GiveUp(options.reason or "An upgrade is already in progress.",
                     "Complete or roll back the running upgrade first.")
    offered = ", ".join(options.upgrades) or "none"
    if to is not None:
        wanted = as_revision(to).name
        if wanted not in options.upgrades:
            raise GiveUp(f"{wanted} is not an upgrade AKS offers from {options.current} "
                         f"(offered: {offered}).", options.reason or
                         "Pick one of the offered revisions (az aks mesh get-upgrades).")
        return wanted
    if not options.upgrades:
        raise GiveUp(f"No newer revision is offered for {options.current}.",
                     options.reason or "Check `az aks mesh get-upgrades`.")
    return min(options.upgrades, key=as_revision)


def namespace_moves(settings: Settings, injections: Iterable[NamespaceInjection],
                    source: str, target: str) -> tuple[Move, ...]:
    """In-scope namespaces whose new pods `source` injects, and how each reaches `target`.

    A namespace on a tag follows the tag (every tag on `source` but the canary moves); any
    other is relabelled: to the stable tag with tags, to the target revision without."""
    moves = []
    for ns in injections:
        if not ns.injected or ns.revision != source or not settings.in_scope(ns.name):
            continue
        if ns.tag is not None and not (settings.use_tags and ns.tag == settings.canary_tag):
            moves.append(Move(ns.name, ns.label, "tag", ns.tag))
        else:
            moves.append(Move(ns.name, ns.label, "relabel",
                              settings.stable_tag if settings.use_tags else target))
    return tuple(moves)


def canary_namespaces(settings: Settings, injections: Iterable[NamespaceInjection]
                      ) -> tuple[str, ...]:
    """In-scope namespaces labelled with the canary tag: relabelled to the stable tag before the
    canary tag goes, since a namespace left on a removed tag gets no sidecar at all."""
    if not settings.use_tags:
        return ()
    return tuple(ns.name for ns in injections
                 if ns.label == settings.canary_tag and settings.in_scope(ns.name))


def restart_waves(settings: Settings, census: Census, source: str,
                  namespaces: Collection[str]) -> Waves:
    """Workloads with a pod on `source` in the moving namespaces, in waves by namespace."""
    moving = [ref for ref in census.workloads_on(source) if ref.namespace not in ADDON_NAMESPACES]
    left = {r for r in moving
            if not settings.in_scope(r.namespace) or r.namespace not in namespaces}
    return _waves(settings, [r for r in moving if r not in left], sorted(left))


def drift_waves(settings: Settings, census: Census) -> Waves:
    """The patch flow: in-scope workloads whose proxy image is not their injector's."""
    drifted = [w for w in census.drifted_workloads() if w.namespace not in ADDON_NAMESPACES]
    return _waves(settings, [w for w in drifted if settings.in_scope(w.namespace)],
                  [w for w in drifted if not settings.in_scope(w.namespace)])


def _waves(settings: Settings, chosen: Sequence[WorkloadRef], left: Sequence[WorkloadRef]
           ) -> Waves:
    """Restartable workloads in waves; a Job's pod cannot be rolled out, any other
    workload without a controller the bot can restart is for a person."""
    return Waves(_chunk([r for r in chosen if r.restartable], settings.wave_size),
                 tuple(r for r in chosen if not r.restartable and not is_job(r)), tuple(left),
                 tuple(r for r in chosen if is_job(r)))


def _chunk(refs: Sequence[WorkloadRef], size: int) -> tuple[tuple[WorkloadRef, ...], ...]:
    by_namespace: dict[str, list[WorkloadRef]] = {}
    for ref in sorted(refs):
        by_namespace.setdefault(ref.namespace, []).append(ref)
    return tuple(tuple(group[i:i + size]) for group in by_namespace.values()
                 for i in range(0, len(group), size))


def make_plan(settings: Settings, options: UpgradeOptions, seen: Observation,
              to: str | None = None, kubernetes_version: str = "") -> Plan:
    """`kubernetes_version` (the cluster's, from ARM) decides the sidecar mode of restarted
    pods; unknown (""), the plan cannot say whether a restart switches it."""
    current = options.current
    target = choose_target(options, to)
    moves = namespace_moves(settings, seen.injections, current, target)
    waves = restart_waves(settings, seen.census, current, {m.namespace for m in moves})
    shared = (shared_config(current), shared_config(target))
    removals = (f"control plane {current} (istiod-{current}, its ingress and egress gateways, "
                "injector)",
                f"ConfigMap {shared[0]} in aks-istio-system, if present",
                *([f"revision tag {settings.canary_tag}, unless namespaces outside the bot's "
                   "scope still use it"] if settings.use_tags else []))
    notes = (*_notes(settings, seen, current, waves),
             *_pod_notes(seen, current, target, waves, kubernetes_version))
    policy = TagPolicy(settings.stable_tag, settings.canary_tag, settings.use_tags,
                       settings.in_scope)
    tag_plans = plan_tags(policy, seen.tags, seen.injections, current, target)
    return Plan(settings.cluster, current, target, settings.use_tags, settings.stable_tag,
                settings.canary_tag, shared, following(tag_plans), moves,
                waves.waves, waves.manual, waves.left,
                removals, notes, tag_plans)


def _notes(settings: Settings, seen: Observation, current: str, waves: Waves) -> tuple[str, ...]:
    notes = [f"{w} has no controller the bot can restart: delete its pods by hand"
             for w in waves.manual]
    notes += [f"{w} stays on {current} (out of scope or its namespace does not move): "
              "complete stays disabled until it moves" for w in waves.left]
    notes += [f"namespace {ns.name} has istio-injection={ns.istio_injection}: no sidecar here"
              for ns in seen.injections
              if ns.istio_injection is not None and ns.label and not ns.injected]
    return tuple(notes)


def _pod_notes(seen: Observation, current: str, target: str, waves: Waves,
               kubernetes_version: str) -> tuple[str, ...]:
    """Running Job pods that cannot roll out, finished pods that need not, and whether
    restarted pods switch between a classic and a native sidecar."""
    jobs = [f"{job_note(seen.census.by_workload[ref], current)}; complete waits until it is "
            "gone" for ref in waves.jobs]
    switch = switch_note(seen.census.modes, kubernetes_version, current, target)
    return (*jobs, *finished_notes(seen.census, current), *([switch] if switch else []))


# --- gates ------------------------------------------------------------------------------------


def leftovers(revision: str, seen: Observation, ignore_tags: Collection[str] = ()
              ) -> tuple[str, ...]:
    """Everything that still uses `revision`: pods by workload, tags, namespaces."""
    pods = [f"{w.workload}: {w.revisions[revision]} pod(s) on {revision}"
            for w in seen.census.by_workload.values() if w.revisions.get(revision)
            and w.workload.namespace not in ADDON_NAMESPACES and not is_job(w.workload)]
    pods += job_notes(seen.census, revision, removing=True)
    tags = [f"tag {t.tag} -> {revision}" for t in seen.tags
            if t.tag and t.revision == revision and t.tag not in ignore_tags]
    spaces = [f"namespace {ns.name} ({_selected_by(ns)})" for ns in seen.injections
              if ns.injected and ns.revision == revision]
    return (*pods, *tags, *spaces)


def _selected_by(ns: NamespaceInjection) -> str:
    if ns.label is None or ns.istio_injection == "enabled":
        return f"istio-injection={ns.istio_injection} through the {ns.tag} tag"
    return f"istio.io/rev={ns.label}"


def check_complete(old: str, seen: Observation, health: HealthReport) -> None:
    """Complete removes `old`: refuse while anything uses it or meshed workloads are
    unhealthy (others are reported by the checks, not blocking)."""
    verdict = judge_health(health, seen.census, seen.injections)
    remaining = (*leftovers(old, seen), *unhealthy(verdict.blocking))
    if remaining:
        raise GateRefused("complete", remaining, _hint(seen, old, "Restart them (the bot's "
                          "restart action does it) or wait for their rollouts, then try again."))


def check_rolled_back(new: str, canary_tag: str, seen: Observation) -> None:
    """A rollback removes `new`: finish only when nothing but the canary tag still uses it."""
    remaining = leftovers(new, seen, ignore_tags={canary_tag})
    if remaining:
        raise GateRefused("finish the rollback", remaining, _hint(
            seen, new, "The bot restarts them again; if they stay, restart them by hand."))


def _hint(seen: Observation, revision: str, restart: str) -> str:
    """A Job pod is never restarted: when one is left, say what to do with it."""
    if job_notes(seen.census, revision, removing=True):
        return restart + " A running Job pod goes when its Job finishes or the pod is deleted."
    return restart
