"""Thread reports (check, plan, versions, tags, sidecars, history) as text Reports and blocks.

Each `*_report(data)` builds a bot.blocks.Report from small plain-data inputs defined here
(the engine maps its own records into them); `bot.blocks.render_report` turns any of them into
blocks within Slack's limits. When `fits_in_blocks(report.text)` is False, callers also upload
`as_file(report)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.slack.blocks import Report, ReportSection, counts_text, escape, when
from bot.slack.buttons import phase_label
from bot.slack.card import PlaneStatus, modes_text
from bot.slack.wording.phrases import duration
from bot.slack.wording.traffic import (
    OUTCOME_EMOJI,
    millis,
    per_second,
    percent,
    workload_key,
    worst_first,
)
from bot.traffic.verdicts import Judgement, Outcome, Verdict
from bot.upgrade.phases import Phase, RunKind

_OK, _BAD, _INFO = ":white_check_mark:", ":warning:", ":information_source:"
TRAFFIC_ROWS = 10
_ROW_WORDS = {Outcome.PASSED: "passed", Outcome.BREACHED: "breached",
              Outcome.NO_VERDICT: "too little traffic", Outcome.UNAVAILABLE: "unavailable"}


@dataclass(frozen=True)
class WorkloadProblem:
    workload: str  # "namespace/kind/name"
    problem: str  # "2 pods not ready", "crash-looping: istio-proxy"
    blocking: bool = True  # False: no sidecar, the upgrade does not touch it


@dataclass(frozen=True)
class HpaSide:
    min_replicas: int
    max_replicas: int
    metrics: tuple[str, ...] = ()  # "cpu 80%"


@dataclass(frozen=True)
class HpaView:
    """One component's HPA on the stable (old) and canary (new) revision; None if absent."""

    component: str
    stable: HpaSide | None
    canary: HpaSide | None


@dataclass(frozen=True)
class TrafficView:
    """The moved workloads' traffic now against their baselines, and where it was read."""

    verdict: Verdict
    window_seconds: float
    source: str  # "Prometheus at http://…"


@dataclass(frozen=True)
class CheckView:
    """A scheduled or asked-for check. `stragglers` are workloads not yet on `to_rev`."""

    cluster: str
    at: datetime
    from_rev: str
    to_rev: str
    workloads: int
    healthy: int
    problems: tuple[WorkloadProblem, ...] = ()
    census_by_revision: Mapping[str, int] = field(default_factory=dict)
    census_by_version: Mapping[str, int] = field(default_factory=dict)
    stragglers: tuple[str, ...] = ()
    planes: tuple[PlaneStatus, ...] = ()
    hpas: tuple[HpaView, ...] = ()
    census_modes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # finished pods and the like: reported, never blocking
    traffic: TrafficView | None = None  # None: no traffic gates, or nothing moved yet


def check_report(view: CheckView) -> Report:
    blocking = [p for p in view.problems if p.blocking]
    quiet = len(view.problems) - len(blocking)
    aside = f" ({quiet} more without a sidecar, not blocking)" if quiet else ""
    verdict = (f"{_OK} Healthy, and every workload is on {view.to_rev}.{aside}"
               if not blocking and not view.stragglers else
               f"{_BAD} {len(blocking)} unhealthy, {len(view.stragglers)} not on "
               f"{view.to_rev}.{aside}")
    sections = (
        ReportSection("Workloads", (f"{view.healthy}/{view.workloads} healthy",
                                    *(_problem_line(p) for p in view.problems))),
        ReportSection("Sidecars", (_counts("by revision", view.census_by_revision),
                                   _counts("by proxy version", view.census_by_version),
                                   *((f"sidecar modes: {modes_text(view.census_modes)}",)
                                     if view.census_modes else ()),
                                   *(f"not on {view.to_rev}: `{escape(s)}`"
                                     for s in view.stragglers))),
        ReportSection("Not blocking", tuple(f"{_INFO} {escape(n)}" for n in view.notes)),
        ReportSection("Control planes", _plane_differences(view.planes),
                      tuple(_plane_field(p) for p in view.planes)),
        ReportSection("HPAs (stable | canary)", tuple(_hpa_line(h) for h in view.hpas)),
        ReportSection("Traffic", traffic_lines(view.traffic) if view.traffic else ()),
    )
    # The time goes in the summary: a header is plain text, where Slack formats no dates.
    return _report(f"Check · {view.cluster}", f"{verdict}\nTaken {when(view.at)}.", sections,
                   view.cluster)


def traffic_lines(view: TrafficView) -> tuple[str, ...]:
    """Where and over what window, then one line per moved workload, the worst first."""
    verdict = view.verdict
    head = f"{escape(view.source)} · windows of {duration(view.window_seconds)}"
    if verdict.outcome is Outcome.UNAVAILABLE:
        return (head, f"{OUTCOME_EMOJI[Outcome.UNAVAILABLE.value]} "
                      f"{escape(verdict.summary())}; not a pass")
    rows = worst_first(verdict)
    more = len(rows) - TRAFFIC_ROWS
    return (f"{head} · {escape(verdict.summary())}",
            *(_traffic_row(j) for j in rows[:TRAFFIC_ROWS]),
            *((f"and {more} more",) if more > 0 else ()))


def _traffic_row(j: Judgement) -> str:
    """`:x: `reviews-v2` in `bookinfo`: 11.8 req/s · success rate 99.71 % → 92.10 % · …`"""
    return (f"{OUTCOME_EMOJI[j.outcome.value]} {workload_key(j.workload)}: "
            f"{per_second(j.after.rps)} req/s · success rate {percent(j.before.success_rate)} "
            f"→ {percent(j.after.success_rate)} · p99 {millis(j.before.p99_ms)} → "
            f"{millis(j.after.p99_ms)} · {_ROW_WORDS[j.outcome]}")


def _problem_line(p: WorkloadProblem) -> str:
    if p.blocking:
        return f"{_BAD} `{escape(p.workload)}`: {escape(p.problem)}"
    return (f"{_INFO} `{escape(p.workload)}`: {escape(p.problem)}; not blocking: it has no "
            "sidecar, so the upgrade does not touch it (its owners should look at it)")


def _report(title: str, summary: str, sections: Sequence[ReportSection], cluster: str) -> Report:
    """A report without its empty sections."""
    return Report(title, summary, tuple(s for s in sections if s.lines or s.fields), cluster)


def _counts(label: str, counts: Mapping[str, int]) -> str:
    return f"{label}: {counts_text(counts, most=40) or 'none'}"


def _plane_field(p: PlaneStatus) -> str:
    mark = _OK if p.healthy else _BAD
    return (f"{mark} *{escape(p.revision)}*\nistiod {p.istiod_ready}/{p.istiod_desired}\n"
            f"gateways {p.gateways_ready}/{p.gateways_desired}")


def _plane_differences(planes: Sequence[PlaneStatus]) -> tuple[str, ...]:
    notes = [f"{_BAD} {escape(p.revision)} is not fully ready" for p in planes if not p.healthy]
    gateways = {p.gateways_desired for p in planes}
    if len(gateways) > 1:
        counts = ", ".join(f"{escape(p.revision)} {p.gateways_desired}" for p in planes)
        notes.append(f"{_BAD} gateway replicas differ between revisions: {counts}")
    return tuple(notes)


def _hpa_line(h: HpaView) -> str:
    diffs = hpa_differences(h.stable, h.canary)
    mark = f"{_BAD} differs: {'; '.join(diffs)}" if diffs else f"{_OK} same"
    return f"`{escape(h.component)}`: {_hpa(h.stable)} | {_hpa(h.canary)} {mark}"


def _hpa(side: HpaSide | None) -> str:
    if side is None:
        return "none"
    metrics = f" {', '.join(side.metrics)}" if side.metrics else ""
    return f"{side.min_replicas}-{side.max_replicas}{metrics}"


def hpa_differences(stable: HpaSide | None, canary: HpaSide | None) -> tuple[str, ...]:
    """What the canary HPA does differently (the add-on copies the stable spec onto it)."""
    if stable is None or canary is None:
        return () if stable == canary else ("only one revision has an HPA",)
    pairs = (("min", stable.min_replicas, canary.min_replicas),
             ("max", stable.max_replicas, canary.max_replicas),
             ("metrics", ", ".join(stable.metrics), ", ".join(canary.metrics)))
    return tuple(f"{name} {a} vs {b}" for name, a, b in pairs if a != b)


@dataclass(frozen=True)
class PlanView:
    """What `start` would do: revisions, the MeshConfig copy, tags, and what restarts."""

    cluster: str
    from_rev: str
    to_rev: str
    offered: tuple[str, ...]  # revisions meshUpgradeProfiles offers
    config_map: str | None  # shared MeshConfig to copy, None when there is none
    use_tags: bool
    tags: tuple[str, ...] = ()  # what the run does to each revision tag, in words
    namespaces: tuple[str, ...] = ()  # relabelled (or moved by the tag)
    workloads: tuple[str, ...] = ()  # "namespace/kind/name" to restart
    warnings: tuple[str, ...] = ()  # PDB, capacity, skipped revisions ...


def plan_report(view: PlanView) -> Report:
    offered = ", ".join(view.offered) or "none"
    how = "moving revision tags" if view.use_tags else "relabelling namespaces"
    steps = (
        f"1. Copy MeshConfig `{escape(view.config_map)}`" if view.config_map
        else "1. No shared MeshConfig to copy",
        f"2. Start {view.to_rev} beside {view.from_rev} (both control planes serve)",
        f"3. Move {len(view.namespaces)} namespace(s) by {how}",
        f"4. Restart {len(view.workloads)} workload(s), then check and complete or roll back",
    )
    sections = (
        ReportSection("Steps", steps),
        ReportSection("Warnings", tuple(f"{_BAD} {escape(w)}" for w in view.warnings)),
        ReportSection("Tags", tuple(escape(line) for line in view.tags)),
        ReportSection("Namespaces", (", ".join(f"`{escape(n)}`" for n in view.namespaces),)
                      if view.namespaces else ()),
        ReportSection("Workloads to restart", tuple(f"`{escape(w)}`" for w in view.workloads)),
    )
    tags = "" if view.use_tags else " · without revision tags"
    summary = f"{view.from_rev} → {view.to_rev} (offered: {offered}){tags}"
    return _report(f"Plan · {view.cluster}", summary, sections, view.cluster)


@dataclass(frozen=True)
class VersionsView:
    cluster: str
    installed: tuple[str, ...]  # revisions with a control plane now
    offered: tuple[str, ...]  # upgrades meshUpgradeProfiles offers
    kubernetes_version: str = ""
    proxy_versions: Mapping[str, int] = field(default_factory=dict)  # version -> pods
    injector_images: Mapping[str, str] = field(default_factory=dict)  # revision -> proxy image


def versions_report(view: VersionsView) -> Report:
    summary = (f"Installed: {', '.join(view.installed) or 'none'} · upgrades offered: "
               f"{', '.join(view.offered) or 'none (upgrade the AKS cluster first?)'}")
    images = tuple(f"{escape(r)}: `{escape(i)}`" for r, i in sorted(view.injector_images.items()))
    sections = (
        ReportSection("Kubernetes", (escape(view.kubernetes_version),)
                      if view.kubernetes_version else ()),
        ReportSection("New pods get", images),
        ReportSection("Pods run", (_counts("proxy versions", view.proxy_versions),)
                      if view.proxy_versions else ()),
    )
    return _report(f"Versions · {view.cluster}", summary, sections, view.cluster)


@dataclass(frozen=True)
class TagView:
    tag: str
    revision: str
    namespaces: tuple[str, ...] = ()  # labelled istio.io/rev=<tag>


@dataclass(frozen=True)
class TagsView:
    cluster: str
    tags: tuple[TagView, ...]
    revision_labelled: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # rev -> ns


def tags_report(view: TagsView) -> Report:
    lines = tuple(f"`{escape(t.tag)}` → {escape(t.revision)}: "
                  f"{_names(t.namespaces)}" for t in view.tags)
    direct = tuple(f"istio.io/rev={escape(r)}: {_names(ns)}"
                   for r, ns in sorted(view.revision_labelled.items()))
    sections = (ReportSection("Tags", lines), ReportSection("Namespaces labelled directly", direct))
    summary = f"{len(view.tags)} tag(s)" if view.tags else "No revision tags."
    return _report(f"Tags · {view.cluster}", summary, sections, view.cluster)


def _names(names: Sequence[str], most: int = 30) -> str:
    shown = ", ".join(f"`{escape(n)}`" for n in names[:most]) or "no namespace"
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


@dataclass(frozen=True)
class SidecarRow:
    """One workload: pods per revision ("" = no sidecar) and per proxy version."""

    workload: str  # "namespace/kind/name"
    revisions: Mapping[str, int]
    versions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SidecarsView:
    cluster: str
    rows: tuple[SidecarRow, ...]
    expected: str | None = None  # the revision every pod should be on now
    namespace: str | None = None


def sidecars_report(view: SidecarsView) -> Report:
    off = [r for r in view.rows if view.expected and set(r.revisions) - {view.expected}]
    on = [r for r in view.rows if r not in off]
    scope = f" in `{escape(view.namespace)}`" if view.namespace else ""
    summary = f"{len(view.rows)} workload(s){scope}" + (
        f"; {len(off)} not (only) on {view.expected}" if view.expected else "")
    sections = (ReportSection(f"Not on {view.expected}", tuple(_row(r) for r in off)),
                ReportSection("Workloads" if not view.expected else f"On {view.expected}",
                              tuple(_row(r) for r in on)))
    return _report(f"Sidecars · {view.cluster}", summary, sections, view.cluster)


def _row(r: SidecarRow) -> str:
    revs = ", ".join(f"{escape(k) or 'no sidecar'} {v}" for k, v in sorted(r.revisions.items()))
    vers = ", ".join(f"{escape(k)} {v}" for k, v in sorted(r.versions.items()))
    return f"`{escape(r.workload)}`: {revs}" + (f" ({vers})" if vers else "")


class HistoryRun(Protocol):
    """What history needs from a run (bot.store.Run satisfies it)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> RunKind: ...
    @property
    def from_rev(self) -> str: ...
    @property
    def to_rev(self) -> str: ...
    @property
    def phase(self) -> Phase: ...
    @property
    def requested_by(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class HistoryEntry(Protocol):
    """What history needs from an audit entry (bot.store.AuditEntry satisfies it)."""

    @property
    def run_id(self) -> int | None: ...
    @property
    def actor(self) -> str: ...
    @property
    def what(self) -> str: ...
    @property
    def at(self) -> datetime: ...


def history_report(cluster: str, runs: Sequence[HistoryRun],
                   audit: Sequence[HistoryEntry]) -> Report:
    lines = tuple(f"*{r.id}* {when(r.created_at)} {r.kind.value} {r.from_rev} → {r.to_rev}: "
                  f"{phase_label(r.phase)} (by <@{r.requested_by}>)" for r in runs)
    trail = tuple(f"{when(a.at)} {_actor(a.actor)}: {escape(a.what)}"
                  + (f" (run {a.run_id})" if a.run_id is not None else "") for a in audit)
    sections = (ReportSection("Runs", lines), ReportSection("Audit trail", trail))
    summary = f"{len(runs)} run(s), {len(audit)} audit entries"
    return _report(f"History · {cluster}", summary, sections, cluster)


def _actor(actor: str) -> str:
    return actor if actor in ("bot", "scheduler") else f"<@{escape(actor)}>"
