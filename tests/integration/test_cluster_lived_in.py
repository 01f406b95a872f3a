"""What a lived-in cluster holds, read by the real adapters against meshsim: finished Job and
evicted pods, a Job pod whose app exited while its classic istio-proxy runs on, a native
sidecar (istio-proxy as an init container) that crash-loops, and egress gateways.

The pods are made through the API and their status written through the pods/status
subresource, with the simulated kubelet held (`sim.stop()`), so that it keeps what is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import AppsV1Api, CoreV1Api

from bot.kube.restarts import restart_stamp
from bot.upgrade.cluster_facts import FinishedPods, WorkloadRef
from bot.upgrade.errors import GateRefused
from bot.upgrade.plan import Observation, Settings, check_complete, restart_waves
from bot.upgrade.readiness import canary_gaps, judge_health, removal_gaps
from tests.integration.cluster_sim import CANARY, STABLE, SimCluster, running, wait_for

BATCH, EGRESS = "batch", "aks-istio-egress"
REPORT = WorkloadRef("Job", BATCH, "report-29012345")  # made by CronJob "report"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimCluster]:
    with running(tmp_path) as env:
        yield env


def core(env: SimCluster) -> CoreV1Api:
    return CoreV1Api(env.api)


def make_pod(env: SimCluster, name: str, *, owner: tuple[str, str] | None = None,
             revision: str | None = STABLE, native: bool = False) -> None:
    """A pod in `batch` as the injector would have made it for `revision` (None: none)."""
    image = env.cluster.census.injector_images()[STABLE]
    proxy: dict[str, Any] = {"name": "istio-proxy", "image": image}
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "busybox"}]}
    if revision and native:
        spec["initContainers"] = [{**proxy, "restartPolicy": "Always"}]
    elif revision:
        spec["containers"].append(proxy)
    meta: dict[str, Any] = {"name": name, "namespace": BATCH}
    if revision:
        meta["annotations"] = {"sidecar.istio.io/status": json.dumps({"revision": revision})}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1" if owner[0] == "Job" else "apps/v1",
                                    "kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}",
                                    "controller": True}]
    core(env).create_namespaced_pod(BATCH, {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                                            "spec": spec})


def set_status(env: SimCluster, name: str, phase: str, *, ready: bool = False,
               containers: list[dict[str, Any]] | None = None,
               inits: list[dict[str, Any]] | None = None, reason: str | None = None) -> None:
    status: dict[str, Any] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    if containers is not None:
        status["containerStatuses"] = containers
    if inits is not None:
        status["initContainerStatuses"] = inits
    if reason:
        status["reason"] = reason
    core(env).patch_namespaced_pod_status(name, BATCH, {"status": status},
                                          _content_type="application/merge-patch+json")


def container(name: str, ready: bool, restarts: int, state: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "image": name, "imageID": f"{name}@sha256:0", "ready": ready,
            "restartCount": restarts, "state": state}


def running_state(name: str) -> dict[str, Any]:
    return container(name, True, 0, {"running": {"startedAt": "2026-05-01T00:00:00Z"}})


def exited(name: str) -> dict[str, Any]:
    return container(name, False, 0, {"terminated": {"exitCode": 0, "reason": "Completed"}})


def looping(name: str, restarts: int) -> dict[str, Any]:
    return container(name, False, restarts, {"waiting": {"reason": "CrashLoopBackOff"}})


def lived_in(env: SimCluster) -> None:
    """batch: a finished and a running Job pod of CronJob report, an evicted pod, a bare pod
    with a crash-looping native sidecar, and a crash-looping pod without any sidecar."""
    env.sim.stop()  # the kubelet keeps the statuses written below
    core(env).create_namespace({"metadata": {"name": BATCH}})
    make_pod(env, "report-29012344-a", owner=("Job", "report-29012344"))
    set_status(env, "report-29012344-a", "Succeeded",
               containers=[exited("app"), exited("istio-proxy")])
    make_pod(env, "report-29012345-b", owner=("Job", REPORT.name))
    set_status(env, "report-29012345-b", "Running",
               containers=[exited("app"), running_state("istio-proxy")])
    make_pod(env, "api-7c9-evicted", owner=("ReplicaSet", "api-7c9"))
    set_status(env, "api-7c9-evicted", "Failed", reason="Evicted")
    make_pod(env, "native-1", native=True)
    set_status(env, "native-1", "Running", containers=[running_state("app")],
               inits=[looping("istio-proxy", 3)])
    make_pod(env, "plain-1", revision=None)
    set_status(env, "plain-1", "Running", containers=[looping("app", 5)])


def test_census_counts_running_pods_by_mode_and_finished_pods_apart(env: SimCluster) -> None:
    before = env.cluster.census.take()
    lived_in(env)

    census = env.cluster.census.take()

    assert census.pods == before.pods + 3  # the running Job pod, native-1, plain-1
    assert census.by_revision[STABLE] == before.by_revision[STABLE] + 2
    assert census.modes[STABLE] == {"classic": before.by_revision[STABLE] + 1, "native": 1}
    assert census.finished == (FinishedPods(STABLE, "Evicted", "Failed", 1, (BATCH,)),
                               FinishedPods(STABLE, "Job", "Succeeded", 1, (BATCH,)))
    report = census.by_workload[REPORT]
    assert (report.pods, report.app_exited, report.native) == (1, 1, 0)
    assert WorkloadRef("Job", BATCH, "report-29012344") not in census.by_workload
    assert census.by_workload[WorkloadRef("Pod", BATCH, "native-1")].native == 1
    assert census.drift == ()


def test_health_reads_native_sidecars_and_judges_only_meshed_workloads(env: SimCluster) -> None:
    # creationTimestamp has whole seconds: a pod made after `since` must not look older
    since = datetime.fromtimestamp(int(env.sim.clock.now()), UTC)
    lived_in(env)
    seen = Observation(env.cluster.namespaces.injection(), env.cluster.census.take(),
                       env.cluster.tags.list_tags())

    health = env.cluster.health.check([BATCH], since)

    by_name = {w.workload.name: w for w in health.workloads}
    native = by_name["native-1"]
    assert native.crashlooping == ("native-1/istio-proxy",) and native.restarts == 3
    assert native.not_ready == ("native-1",)
    assert by_name[REPORT.name].healthy  # a Job pod whose app exited is not "not ready"
    assert "report-29012344" not in by_name and "api-7c9" not in by_name  # finished
    verdict = judge_health(health, seen.census, seen.injections)
    assert [w.workload.name for w in verdict.blocking] == ["native-1"]
    assert [w.workload.name for w in verdict.not_blocking] == ["plain-1"]


def test_the_gate_names_the_running_job_pod_and_never_the_finished_ones(env: SimCluster) -> None:
    lived_in(env)
    seen = Observation(env.cluster.namespaces.injection(), env.cluster.census.take(),
                       env.cluster.tags.list_tags())
    waves = restart_waves(Settings("aks-sandbox"), seen.census, STABLE, {BATCH})

    with pytest.raises(GateRefused) as refused:
        check_complete(STABLE, seen, env.cluster.health.check([BATCH], datetime.now(UTC)))

    patches = env.requests(verb="patch")
    skipped = env.cluster.restarts.restart(REPORT, restart_stamp())
    assert REPORT in waves.jobs and all(REPORT not in w for w in waves.waves)
    assert skipped.skipped == ("a Job cannot be rolled out: wait for it to finish, or delete "
                               "its pod") and env.requests(verb="patch") == patches
    text = " | ".join(refused.value.remaining)
    assert ("job/report-29012345 -n batch: 1 running Job pod on asm-1-22 would lose its "
            "control plane: wait for the Job to finish, or delete the pod (the next run of "
            "CronJob report gets the new sidecar); 1 pod only runs on because the app exited "
            "but the classic istio-proxy did not") in text
    assert "report-29012344" not in text and "evicted" not in text
    assert "pod/plain-1" not in text  # unhealthy, but without a sidecar


def egress_gateway(env: SimCluster, revision: str) -> None:
    labels = {"app": "eg1", "istio": "eg1", "istio.io/rev": revision}
    AppsV1Api(env.api).create_namespaced_deployment(EGRESS, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"eg1-{revision}", "namespace": EGRESS, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": {**labels,
                                                      "sidecar.istio.io/inject": "false"}},
                              "spec": {"containers": [{"name": "istio-proxy",
                                                       "image": "proxyv2"}]}}}})


def test_egress_gateways_are_part_of_each_plane_and_must_go_with_it(env: SimCluster) -> None:
    plane = env.cluster.control_plane
    core(env).create_namespace({"metadata": {"name": EGRESS}})
    egress_gateway(env, STABLE)
    wait_for(lambda: plane.status(STABLE).ready and len(plane.status(STABLE).gateways) == 3,
             "the stable egress gateway")
    env.start_canary()

    assert canary_gaps(plane.status(STABLE), plane.status(CANARY)) == (
        "no gateway eg1-asm-1-23 in aks-istio-egress yet",)
    egress_gateway(env, CANARY)
    wait_for(lambda: not canary_gaps(plane.status(STABLE), plane.status(CANARY)),
             "both planes with their egress gateway")

    env.sim.set_revisions([CANARY])  # complete: the add-on removes istiod and ingress only
    wait_for(lambda: plane.status(STABLE).istiod.desired == 0, "asm-1-22's istiod to go")
    gaps = removal_gaps(plane.status(CANARY), plane.status(STABLE))
    assert gaps[0] == "eg1-asm-1-22 in aks-istio-egress is still there"
    assert gaps[1].startswith("1 asm-1-22 control-plane pod(s) still run: "
                              "aks-istio-egress/eg1-asm-1-22-")
    AppsV1Api(env.api).delete_namespaced_deployment(f"eg1-{STABLE}", EGRESS)
    wait_for(lambda: plane.status(STABLE).gone, "nothing of asm-1-22 left")
    assert removal_gaps(plane.status(CANARY), plane.status(STABLE)) == ()
