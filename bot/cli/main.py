"""`mesh-upgrade-bot`: the operator's command line beside the Slack bot.

`census` reads a cluster's sidecars straight from a kubeconfig; `plan` shows what an upgrade of a
configured cluster would do; `status` shows the state of its run from the bot's database.
Subcommands live in `SUBCOMMANDS` (name, help, arguments, handler), so `sandbox`, `run` and
`doctor` plug in the same way. Every error the bot knows is printed as a sentence and a hint,
with exit status 2; no traceback reaches the operator.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from bot.upgrade.cluster_facts import Census
from bot.upgrade.errors import MeshUpgradeError
from bot.upgrade.plan import Plan

Handler = Callable[[argparse.Namespace, TextIO], int]


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Handler


SUBCOMMANDS: list[Subcommand] = []


def subcommand(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None]
               ) -> Callable[[Handler], Handler]:
    """Register a handler; other modules add theirs the same way before `main` runs."""

    def register(run: Handler) -> Handler:
        SUBCOMMANDS.append(Subcommand(name, help, arguments, run))
        return run

    return register


# --- census ----------------------------------------------------------------------------------


def _census_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", required=True, help="path of the kubeconfig file")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("--namespace", help="only this namespace")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


@subcommand("census", "which Istio revision and proxy version every pod runs", _census_args)
def run_census(args: argparse.Namespace, out: TextIO) -> int:
    from kubernetes.client import CoreV1Api

    from bot.cli.wiring import kube_api_client
    from bot.config.settings import AccessConfig, AccessMode
    from bot.kube.census import CensusReader
    from bot.kube.rest import KubeIO

    access = AccessConfig(mode=AccessMode.KUBECONFIG, kubeconfig=args.kubeconfig,
                          context=args.context)
    api = kube_api_client(access, label=args.kubeconfig)
    census = CensusReader(KubeIO(api), CoreV1Api(api)).take(args.namespace)
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
                       "image": p.image} for p in c.drift]}


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
    lines += [f"injector {rev}: {image}" for rev, image in sorted(c.injector_images.items())]
    return "\n".join(lines) + "\n"


# --- plan and status -------------------------------------------------------------------------


def _cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="the bot's YAML configuration")
    p.add_argument("--cluster", required=True, help="a cluster name from the configuration")
    p.add_argument("--json", action="store_true", help="print JSON")


def _plan_args(p: argparse.ArgumentParser) -> None:
    _cluster_args(p)
    p.add_argument("--to", help="target revision, e.g. asm-1-23 (default: the next offered)")


@subcommand("plan", "what an upgrade of a configured cluster would do now", _plan_args)
def run_plan(args: argparse.Namespace, out: TextIO) -> int:
    from bot.cli.wiring import build_workflow
    from bot.config.settings import load_config
    from bot.store.repository import create_store

    config = load_config(args.config)
    config.cluster(args.cluster)
    workflow = build_workflow(config, create_store("sqlite://"))  # a plan stores nothing
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
    if plan.use_tags:
        lines.append(f"3. tags: {plan.stable_tag} -> {plan.current}, "
                     f"{plan.canary_tag} -> {plan.target}")
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


@subcommand("status", "the state of a cluster's upgrade run, from the bot's database",
            _cluster_args)
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


# --- entry point -----------------------------------------------------------------------------


# Modules that register more subcommands (`run`, `sandbox`, `doctor`); imported when the
# parser is built.
PLUGINS = ("bot.cli.run", "bot.cli.sandbox", "bot.cli.doctor")


def parser() -> argparse.ArgumentParser:
    import importlib

    for module in PLUGINS:
        importlib.import_module(module)
    root = argparse.ArgumentParser(prog="mesh-upgrade-bot",
                                   description="Canary upgrades of the AKS Istio add-on.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for sub in SUBCOMMANDS:
        p = commands.add_parser(sub.name, help=sub.help, description=sub.help)
        sub.arguments(p)
        p.set_defaults(handler=sub.run)
    return root


def error_lines(exc: MeshUpgradeError) -> list[str]:
    """A configuration error is one line per problem (`file:line: key: what`), else the message."""
    problems = getattr(exc, "problems", ())
    return [str(p) for p in problems] or [exc.message]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.handler(args, sys.stdout)
        return code
    except MeshUpgradeError as exc:
        for line in error_lines(exc):
            print(f"error: {line}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
