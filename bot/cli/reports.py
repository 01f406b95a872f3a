"""The operator's read-only commands: `census` (straight from a kubeconfig), `plan` (what an
upgrade of a configured cluster would do) and `status` (a run, from the bot's database).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from bot.upgrade.cluster_facts import Census
from bot.upgrade.plan import Plan
from bot.upgrade.pod_notes import finished_notes

# --- census ----------------------------------------------------------------------------------


def run_census(args: argparse.Namespace, out: TextIO) -> int:
    from bot.kube.census import census_from_kubeconfig

    census = census_from_kubeconfig(args.kubeconfig, args.context, args.namespace)
    if args.json:
        json.dump(census_json(census), out, indent=2)
        out.write("\n")
    else:
        out.write(census_table(census))
    return 0


def census_json(c: Census) -> dict[str, Any]:
    return {"pods": c.pods, "injected": c.injected, "by_revision": dict(c.by_revision),
            "by_version": dict(c.by_version), "injector_images": dict(c.injector_images),
            "workloads": [{"kind": w.workload.kind, "namespace": w.workload.namespace,
                           "name": w.workload.name, "pods": w.pods, "ready": w.ready,
                           "revisions": dict(w.revisions), "versions": dict(w.versions),
                           "drifted": w.drifted} for w in c.by_workload.values()],
            "drift": [{"namespace": p.namespace, "pod": p.name, "revision": p.revision,
                       "image": p.image} for p in c.drift],
            "modes": {rev: dict(modes) for rev, modes in c.modes.items()},
            "finished": [{"revision": f.revision, "kind": f.kind, "phase": f.phase,
                          "pods": f.pods, "namespaces": list(f.namespaces)} for f in c.finished]}


def census_table(c: Census) -> str:
    rows = [("NAMESPACE", "WORKLOAD", "PODS", "READY", "REVISION", "PROXY", "OUTDATED")]
    for w in c.by_workload.values():
        revisions = ",".join(f"{r or 'none'}" for r in sorted(w.revisions))
        versions = ",".join(sorted(w.versions)) or "-"
        rows.append((w.workload.namespace, f"{w.workload.kind.lower()}/{w.workload.name}",
                     str(w.pods), str(w.ready), revisions, versions, str(w.drifted)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    summary = ", ".join(f"{rev}: {n}" for rev, n in sorted(c.by_revision.items())) or "none"
    lines += ["", f"{c.pods} pods, {c.injected} with a sidecar ({summary}); "
              f"{len(c.drift)} outdated"]
    lines += [f"sidecar modes on {rev}: " + ", ".join(f"{mode} {n}" for mode, n in
                                                    sorted(modes.items()))
              for rev, modes in sorted(c.modes.items()) if modes]
    lines += [f"injector {rev}: {image}" for rev, image in sorted(c.injector_images.items())]
    lines += [f"not counted: {note}" for note in finished_notes(c)]
    return "\n".join(lines) + "\n"


# --- plan and status -------------------------------------------------------------------------


def run_plan(args: argparse.Namespace, out: TextIO) -> int:
    from bot.azure.connect import ArmEndpoint
    from bot.cli.wiring import build_workflow
    from bot.config.settings import load_config
    from bot.store.repository import create_store

    config = load_config(args.config)
    config.cluster(args.cluster)
    arm = ArmEndpoint.from_env()
    workflow = build_workflow(config, create_store("sqlite://"), arm)  # a plan stores nothing
    plan = workflow.plan(args.cluster, args.to)
    if args.json:
        json.dump(plan.to_json(), out, indent=2)
        out.write("\n")
        return 0
    out.write(plan_text(plan))
    return 0


def plan_text(plan: Plan) -> str:
    lines = [f"Upgrade {plan.cluster}: {plan.current} -> {plan.target}",
             f"1. copy {plan.shared_config[0]} to {plan.shared_config[1]} (if it exists)",
             f"2. ARM: revisions [{plan.current}, {plan.target}], wait for istiod-{plan.target}"
             " and its gateways"]
    lines.append("3. revision tags:" if plan.tag_plans else "3. no revision tags")
    lines += [f"   {line}" for line in plan.tag_lines()]
    lines.append(f"4. move to {plan.target}: " + (", ".join(
        f"tag {t}" for t in plan.retag) or "no tags"))
    lines += [f"   namespace {m.namespace} ({m.label}): "
              + (f"follows tag {m.to}" if m.via == "tag" else f"relabel istio.io/rev={m.to}")
              for m in plan.moves]
    lines.append(f"5. restart {plan.workload_count()} workload(s) in {len(plan.waves)} wave(s)")
    lines += [f"   wave {i + 1}: " + ", ".join(str(w) for w in wave)
              for i, wave in enumerate(plan.waves)]
    lines.append("6. soak, then complete (removes the old revision) or roll back")
    lines += [f"   removed at the end: {r}" for r in plan.removals]
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines) + "\n"


def run_status(args: argparse.Namespace, out: TextIO) -> int:
    from bot.config.settings import Secrets, database_url, load_config
    from bot.store.repository import create_store

    config = load_config(args.config)
    config.cluster(args.cluster)
    store = create_store(database_url(config, Secrets()))
    run = store.active_run(args.cluster) or next(iter(store.recent_runs(args.cluster, 1)), None)
    if run is None:
        out.write(f"{args.cluster}: no upgrade run yet.\n")
        return 0
    history = store.history(run.id)
    view = {"run": run.id, "cluster": run.cluster, "kind": run.kind.value,
            "from": run.from_rev, "to": run.to_rev, "phase": run.phase.value,
            "version": run.version, "requested_by": run.requested_by,
            "paused": run.pause_reason, "hint": run.pause_hint,
            "history": [{"at": h.at.isoformat(), "to": h.to_phase.value, "by": h.by,
                         "why": h.why} for h in history]}
    if args.json:
        json.dump(view, out, indent=2)
        out.write("\n")
        return 0
    out.write(f"run {run.id} on {run.cluster} ({run.kind}): {run.from_rev} -> {run.to_rev}, "
              f"{run.phase} (version {run.version})\n")
    if run.pause_reason:
        out.write(f"paused: {run.pause_reason}\n  {run.pause_hint or ''}\n")
    for h in history:
        out.write(f"  {h.at:%Y-%m-%d %H:%M:%S} {h.to_phase:<18} by {h.by}: {h.why}\n")
    return 0
