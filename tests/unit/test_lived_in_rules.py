"""What a lived-in cluster holds, judged by the plan and the gates: running Job pods (never
restarted, named with what to do), finished pods (never blocking), unhealthy workloads without
a sidecar (reported, not blocking), and both control planes before Roll and after removal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.upgrade.cluster_facts import (
    Census,
    Component,
    FinishedPods,
    HealthReport,
    NamespaceInjection,
    PodSidecar,
    RevisionPlane,
    WorkloadHealth,
    WorkloadRef,
    WorkloadSidecars,
)
from bot.upgrade.errors import GateRefused
from bot.upgrade.mesh_facts import UpgradeOptions
from bot.upgrade.plan import (
    Observation,
    Settings,
    check_complete,
    check_rolled_back,
    drift_waves,
    leftovers,
    make_plan,
    restart_waves,
)
from bot.upgrade.pod_notes import cronjob_of, finished_note
from bot.upgrade.readiness import canary_gaps, judge_health, removal_gaps
from bot.workflow.patch import patch_plan

OLD, NEW = "asm-1-22", "asm-1-23"
T0 = datetime(2026, 5, 1, tzinfo=UTC)
SETTINGS = Settings("aks1", out_of_scope=frozenset({"kube-system"}))
API = WorkloadRef("Deployment", "shop", "api")
BACKUP = WorkloadRef("Job", "shop", "backup")
NIGHTLY = WorkloadRef("Job", "shop", "nightly-29012345")  # made by CronJob "nightly"
POLICY = WorkloadRef("Deployment", "gatekeeper-system", "gatekeeper-audit")
LOADER = WorkloadRef("Deployment", "shop", "loader")  # no sidecar (opted out)


def sidecars(ref: WorkloadRef, revisions: dict[str, int], *, native: int = 0,
             app_exited: int = 0, drifted: int = 0) -> WorkloadSidecars:
    pods = sum(revisions.values())
    return WorkloadSidecars(ref, pods, pods, 0, revisions, {}, drifted, native, app_exited)


def observation(*workloads: WorkloadSidecars, finished: tuple[FinishedPods, ...] = (),
                shop_on: str = OLD) -> Observation:
    """`shop` injects `shop_on`; gatekeeper-system injects nothing."""
    census = Census(0, 0, {}, {}, {w.workload.namespace: {} for w in workloads},
                    {w.workload: w for w in workloads}, {}, (), 1, finished)
    injections = (NamespaceInjection("shop", shop_on, shop_on, None, None),
                  NamespaceInjection("gatekeeper-system", None, None, None, None))
    return Observation(injections, census, ())


FINISHED = (FinishedPods(OLD, "Job", "Succeeded", 3, ("shop",)),
            FinishedPods(OLD, "Evicted", "Failed", 2, ("shop", "web")))
SEEN = observation(sidecars(API, {OLD: 2}), sidecars(BACKUP, {OLD: 1}, app_exited=1),
                   sidecars(NIGHTLY, {OLD: 1}, native=1), sidecars(POLICY, {"": 1}),
                   sidecars(LOADER, {"": 1}), finished=FINISHED)


def test_running_job_pods_are_never_in_a_wave_and_the_plan_says_what_to_do() -> None:
    waves = restart_waves(SETTINGS, SEEN.census, OLD, {"shop"})
    plan = make_plan(SETTINGS, UpgradeOptions(OLD, (NEW,), {}), SEEN)

    assert waves.waves == ((API,),) and waves.jobs == (BACKUP, NIGHTLY) and waves.manual == ()
    backup = next(n for n in plan.notes if n.startswith("job/backup -n shop"))
    assert backup.startswith("job/backup -n shop: 1 running Job pod on asm-1-22 cannot be "
                             "rolled out: wait for the Job to finish, or delete the pod")
    assert "the app exited but the classic istio-proxy did not" in backup
    assert backup.endswith("; complete waits until it is gone")
    assert "/quitquitquit" in backup
    nightly = next(n for n in plan.notes if n.startswith("job/nightly-29012345"))
    assert "the next run of CronJob nightly gets the new sidecar" in nightly
    assert "/quitquitquit" not in nightly  # a native sidecar ends with its app


def test_finished_pods_are_reported_apart_and_never_block() -> None:
    plan = make_plan(SETTINGS, UpgradeOptions(OLD, (NEW,), {}), SEEN)
    only_finished = observation(sidecars(API, {NEW: 2}), finished=FINISHED, shop_on=NEW)

    assert ("3 finished Job pods still show asm-1-22; they go when deleted (kubectl delete pods "
            "-n shop --field-selector=status.phase=Succeeded); not blocking") in plan.notes
    assert any(n.startswith("2 evicted pods still show asm-1-22") and "pods -A " in n
               for n in plan.notes)
    assert finished_note(FinishedPods(NEW, "", "Failed", 1, ("web",))) == (
        "1 finished pod still shows asm-1-23; it goes when deleted (kubectl delete pods -n web "
        "--field-selector=status.phase=Failed); not blocking")
    assert not [x for x in leftovers(OLD, only_finished) if "finished" in x or "evicted" in x]
    check_complete(OLD, only_finished, HealthReport(T0, ()))  # passes: nothing runs on OLD


def test_a_running_job_pod_on_the_removed_revision_blocks_with_what_to_do() -> None:
    with pytest.raises(GateRefused) as refused:
        check_complete(OLD, observation(sidecars(BACKUP, {OLD: 2}), shop_on=NEW),
                       HealthReport(T0, ()))

    assert refused.value.remaining == (
        "job/backup -n shop: 2 running Job pods on asm-1-22 would lose their control plane: "
        "wait for the Job to finish, or delete the pods; with a classic sidecar a Job pod keeps "
        "running after its app exits (istio-proxy never quits unless the job calls "
        "/quitquitquit), so it may never finish by itself: then delete it",)
    assert "goes when its Job finishes or the pod is deleted" in refused.value.hint
    with pytest.raises(GateRefused, match="would lose its control plane"):
        check_rolled_back(NEW, "prod-canary", observation(sidecars(BACKUP, {NEW: 1})))
    # (shop is back on asm-1-22: only the Job pod is left on asm-1-23)


def sick(ref: WorkloadRef) -> WorkloadHealth:
    return WorkloadHealth(ref, 1, 0, 1, (f"{ref.name}-1",), (f"{ref.name}-1/app",))


def test_only_meshed_workloads_block_complete() -> None:
    done = observation(sidecars(API, {NEW: 2}), sidecars(POLICY, {"": 1}),
                       sidecars(LOADER, {"": 1}), shop_on=NEW)
    others = HealthReport(T0, (sick(POLICY), sick(LOADER)))

    check_complete(OLD, done, others)  # passes: neither has a sidecar
    verdict = judge_health(others, done.census, done.injections)
    assert verdict.blocking == () and verdict.not_blocking == others.workloads
    with pytest.raises(GateRefused, match="deployment/api -n shop unhealthy"):
        check_complete(OLD, done, HealthReport(T0, (sick(API),)))


def test_a_workload_with_no_pod_in_an_injected_namespace_counts_as_meshed() -> None:
    empty = WorkloadRef("Deployment", "shop", "cannot-create-pods")
    report = HealthReport(T0, (WorkloadHealth(empty, 2, 0),
                               WorkloadHealth(WorkloadRef("Deployment", "gatekeeper-system",
                                                          "gone"), 1, 0)))

    verdict = judge_health(report, SEEN.census, SEEN.injections)

    assert [w.workload for w in verdict.blocking] == [empty]
    assert [w.workload.name for w in verdict.not_blocking] == ["gone"]


def test_drifted_job_pods_are_named_in_the_patch_plan_not_restarted() -> None:
    workloads = (sidecars(API, {OLD: 2}, drifted=2), sidecars(BACKUP, {OLD: 1}, drifted=1))
    drift = tuple(PodSidecar("shop", f"{w.workload.name}-1", w.workload, OLD, "proxyv2:1.22.1",
                             True, 0) for w in workloads)
    drifted = Census(0, 0, {}, {}, {"shop": {}}, {w.workload: w for w in workloads}, {},
                     drift, 1)

    waves = drift_waves(SETTINGS, drifted)
    plan = patch_plan(SETTINGS, drifted, OLD)

    assert waves.waves == ((API,),) and waves.jobs == (BACKUP,)
    assert any(n.startswith("job/backup -n shop: 1 running Job pod on asm-1-22 cannot be "
                            "rolled out") for n in plan.notes)


def test_cronjob_names_are_recognised_by_the_controller_suffix() -> None:
    assert cronjob_of("nightly-29012345") == "nightly"
    assert cronjob_of("db-backup-2901234567") == "db-backup"
    assert cronjob_of("migrate-42") is None and cronjob_of("backup") is None


def part(name: str, namespace: str, ready: int = 2) -> Component:
    return Component(name, namespace, 2, ready, f"{ready}/2 ready")


def plane(revision: str, *, egress: bool = True, istiod_ready: int = 2,
          remaining: tuple[str, ...] = ()) -> RevisionPlane:
    gateways = (part(f"aks-istio-ingressgateway-external-{revision}", "aks-istio-ingress"),
                *([part(f"eg1-{revision}", "aks-istio-egress")] if egress else []))
    return RevisionPlane(revision, part(f"istiod-{revision}", "aks-istio-system", istiod_ready),
                         gateways, remaining)


def test_before_roll_both_planes_serve_with_the_same_gateways() -> None:
    assert canary_gaps(plane(OLD), plane(NEW)) == ()
    assert canary_gaps(plane(OLD), plane(NEW, egress=False)) == (
        "no gateway eg1-asm-1-23 in aks-istio-egress yet",)
    assert canary_gaps(plane(OLD, istiod_ready=1), plane(NEW)) == (
        "istiod-asm-1-22: 1/2 ready",)


def test_after_removal_the_kept_plane_serves_and_nothing_of_the_removed_is_left() -> None:
    nothing = Component(f"istiod-{OLD}", "aks-istio-system", 0, 0, "no istiod pods")
    gone = RevisionPlane(OLD, nothing, ())
    lingering = RevisionPlane(OLD, nothing, (), ("aks-istio-ingress/gw-old-1",))

    assert gone.gone and removal_gaps(plane(NEW), gone) == ()
    assert removal_gaps(plane(NEW), lingering) == (
        "1 asm-1-22 control-plane pod(s) still run: aks-istio-ingress/gw-old-1",)
    assert removal_gaps(plane(NEW, istiod_ready=0), plane(OLD)) == (
        "istiod-asm-1-23: 0/2 ready",
        "istiod-asm-1-22 in aks-istio-system is still there",
        "aks-istio-ingressgateway-external-asm-1-22 in aks-istio-ingress is still there",
        "eg1-asm-1-22 in aks-istio-egress is still there")
