"""The controllers on the SimLoop: rolling waves, revision changes through admission,
progress deadlines, faults, scaling, pause, StatefulSets and DaemonSets (Store API)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshsim.kube import scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.controllers.base import find_condition, pod_ready
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj
from tests.meshsim.kubesim_env import (
    DEPLOYMENT,
    POD,
    SimEnv,
    containers,
    label_namespace,
    pods,
    restart,
    rolled_out,
    started,
    wait_for,
)

STS, DS, RS = by_kind("StatefulSet"), by_kind("DaemonSet"), by_kind("ReplicaSet")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimEnv]:
    with started(tmp_path) as env:
        with env.sim.settled():
            env.sim.set_revisions(["asm-1-22", "asm-1-23"])
            scenarios.namespace(env.sim, "shop", {"istio.io/rev": "asm-1-22"})
        yield env


def deploy(env: SimEnv, name: str, replicas: int, **spec: object) -> Obj:
    body = scenarios.deployment("shop", name, f"contoso/{name}:1", replicas)
    body["spec"].update(spec)
    env.sim.create(body)
    wait_for(lambda: rolled_out(env.sim, "shop", name), what=f"{name} ready")
    return env.sim.store.get(DEPLOYMENT, "shop", name)


def cond(obj: Obj, kind: str) -> Obj:
    found = find_condition(obj, kind)
    assert found is not None, f"no {kind} condition"
    return found


def status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def revision_of(pod: Obj) -> str:
    return str(json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])["revision"])


def test_rollout_restart_replaces_pods_in_waves_within_surge_and_unavailable(env: SimEnv) -> None:
    sim = env.sim
    deploy(env, "api", 20)
    before = {p["metadata"]["name"] for p in pods(sim, "shop", "api-")}
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            live = pods(sim, "shop", "api-")
            ready = sum(1 for p in live if pod_ready(p))
            seen.append((len(live), ready))
            stop.wait(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    restart(sim, "shop", "api")
    wait_for(lambda: rolled_out(sim, "shop", "api"), what="rollout")
    stop.set()
    watcher.join()
    after = pods(sim, "shop", "api-")
    assert len(after) == 20 and not before & {p["metadata"]["name"] for p in after}
    assert max(total for total, _ in seen) <= 25  # replicas + 25% surge
    assert min(ready for _, ready in seen) >= 15  # replicas - 25% unavailable
    d = sim.store.get(DEPLOYMENT, "shop", "api")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert cond(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    replica_sets = {rs["metadata"]["name"]: rs["spec"]["replicas"]
                    for rs in sim.store.list(RS, "shop")}
    new_rs = "api-" + after[0]["metadata"]["labels"]["pod-template-hash"]
    assert len(replica_sets) == 2 and replica_sets.pop(new_rs) == 20
    assert list(replica_sets.values()) == [0]


def test_restart_after_relabel_injects_the_revision_the_namespace_points_to(env: SimEnv) -> None:
    deploy(env, "web", 3)
    assert {revision_of(p) for p in pods(env.sim, "shop", "web-")} == {"asm-1-22"}
    label_namespace(env.sim, "shop", {"istio.io/rev": "asm-1-23"})
    assert {revision_of(p) for p in pods(env.sim, "shop", "web-")} == {"asm-1-22"}
    restart(env.sim, "shop", "web")
    wait_for(lambda: rolled_out(env.sim, "shop", "web"), what="rollout")
    new = pods(env.sim, "shop", "web-")
    assert {revision_of(p) for p in new} == {"asm-1-23"}
    assert {containers(p)["istio-proxy"] for p in new} == {proxy_image("1.23.6")}


def test_never_ready_revision_stalls_the_rollout_until_the_progress_deadline(env: SimEnv) -> None:
    deploy(env, "cart", 4, progressDeadlineSeconds=10)
    env.sim.set_pod_fault("never-ready", "asm-1-23")
    label_namespace(env.sim, "shop", {"istio.io/rev": "asm-1-23"})
    restart(env.sim, "shop", "cart")

    def reason() -> str:
        cond = find_condition(env.sim.store.get(DEPLOYMENT, "shop", "cart"), "Progressing")
        return str((cond or {}).get("reason"))

    wait_for(lambda: reason() == "ProgressDeadlineExceeded", what="deadline")
    d = env.sim.store.get(DEPLOYMENT, "shop", "cart")
    assert cond(d, "Progressing")["status"] == "False"
    assert cond(d, "Progressing")["message"].endswith("has timed out progressing.")
    assert d["status"]["availableReplicas"] == 3  # old pods keep serving (maxUnavailable 1)
    env.sim.clear_pod_faults("never-ready")
    restart(env.sim, "shop", "cart", "2026-01-01T00:05:00Z")
    wait_for(lambda: rolled_out(env.sim, "shop", "cart"), what="recovery")


def test_failed_admission_leaves_pods_missing_and_the_rollout_times_out(env: SimEnv) -> None:
    deploy(env, "pay", 2, progressDeadlineSeconds=10)
    env.sim.store.delete(by_kind("Service"), "aks-istio-system", "istiod-asm-1-22")
    restart(env.sim, "shop", "pay")
    wait_for(lambda: (find_condition(env.sim.store.get(DEPLOYMENT, "shop", "pay"), "Progressing")
                      or {}).get("reason") == "ProgressDeadlineExceeded", what="deadline")
    d = env.sim.store.get(DEPLOYMENT, "shop", "pay")
    failure = find_condition(d, "ReplicaFailure")
    assert failure is not None and failure["reason"] == "FailedCreate"
    assert 'service "istiod-asm-1-22" not found' in failure["message"]
    assert d["status"].get("updatedReplicas", 0) == 0 and len(pods(env.sim, "shop", "pay-")) == 2


def test_crashloop_fault_grows_restart_count_and_clearing_recovers(env: SimEnv) -> None:
    deploy(env, "search", 1)
    env.sim.set_pod_fault("crashloop", "asm-1-22")

    def proxy() -> Obj:
        [pod] = pods(env.sim, "shop", "search-")
        return next(c for c in pod["status"]["containerStatuses"] if c["name"] == "istio-proxy")

    wait_for(lambda: proxy()["restartCount"] >= 2, what="restarts")
    assert proxy()["state"]["waiting"]["reason"] == "CrashLoopBackOff" and not proxy()["ready"]
    [pod] = pods(env.sim, "shop", "search-")
    assert cond(pod, "Ready")["status"] == "False"
    env.sim.clear_pod_faults()
    wait_for(lambda: proxy()["ready"], what="recovery")
    assert "running" in proxy()["state"]


def test_paused_deployment_makes_no_new_replicaset_until_resumed_then_scales(
        env: SimEnv) -> None:
    d = deploy(env, "batch", 2)
    with env.sim.store.lock:
        d = env.sim.store.get(DEPLOYMENT, "shop", "batch")
        env.sim.store.update(DEPLOYMENT, dict(d, spec=dict(d["spec"], replicas=5, paused=True)))
    restart(env.sim, "shop", "batch")
    wait_for(lambda: (find_condition(env.sim.store.get(DEPLOYMENT, "shop", "batch"), "Progressing")
                      or {}).get("reason") == "DeploymentPaused", what="paused")
    hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in pods(env.sim, "shop", "batch-")}
    assert len(hashes) == 1  # paused: no new ReplicaSet
    with env.sim.store.lock:
        d = env.sim.store.get(DEPLOYMENT, "shop", "batch")
        env.sim.store.update(DEPLOYMENT, dict(d, spec=dict(d["spec"], paused=False)))
    wait_for(lambda: rolled_out(env.sim, "shop", "batch"), what="resumed rollout")
    assert len(pods(env.sim, "shop", "batch-")) == 5
    with env.sim.store.lock:
        d = env.sim.store.get(DEPLOYMENT, "shop", "batch")
        env.sim.store.update(DEPLOYMENT, dict(d, spec=dict(d["spec"], replicas=1)))
    wait_for(lambda: rolled_out(env.sim, "shop", "batch")
             and len(pods(env.sim, "shop", "batch-")) == 1, what="scale down")


def test_statefulset_replaces_pods_highest_ordinal_first(env: SimEnv) -> None:
    sim = env.sim
    sim.create(dict(scenarios.statefulset("shop", "db", "postgres:16", 3)))
    wait_for(lambda: status(sim.store.get(STS, "shop", "db")).get("readyReplicas") == 3,
             what="sts ready")
    names = sorted(p["metadata"]["name"] for p in pods(sim, "shop", "db-"))
    assert names == ["db-0", "db-1", "db-2"]
    order: list[str] = []
    unsubscribe = sim.store.subscribe(POD, "shop", lambda t, o: order.append(o["metadata"]["name"])
                                      if t == "DELETED" else None)
    label_namespace(sim, "shop", {"istio.io/rev": "asm-1-23"})
    restart(sim, "shop", "db", kind="StatefulSet")

    def done() -> bool:
        sts = sim.store.get(STS, "shop", "db")
        st = sts["status"]
        return bool(st["observedGeneration"] == sts["metadata"]["generation"]
                    and st["updatedReplicas"] == 3 and st["readyReplicas"] == 3
                    and st["currentRevision"] == st["updateRevision"])

    wait_for(done, what="sts rollout")
    unsubscribe()
    assert order == ["db-2", "db-1", "db-0"]
    assert {revision_of(p) for p in pods(sim, "shop", "db-")} == {"asm-1-23"}


def test_daemonset_runs_one_pod_per_node_and_rolls_node_by_node(env: SimEnv) -> None:
    sim = env.sim
    sim.create(scenarios.daemonset("shop", "agent", "fluent-bit:3"))
    wait_for(lambda: status(sim.store.get(DS, "shop", "agent")).get("numberReady") == 3,
             what="ds ready")
    nodes = {p["spec"]["nodeName"] for p in pods(sim, "shop", "agent-")}
    assert len(nodes) == 3
    restart(sim, "shop", "agent", kind="DaemonSet")

    def done() -> bool:
        ds = sim.store.get(DS, "shop", "agent")
        st = ds["status"]
        return bool(st["observedGeneration"] == ds["metadata"]["generation"]
                    and st.get("updatedNumberScheduled") == 3 and st.get("numberAvailable") == 3)

    wait_for(done, what="ds rollout")
    assert {p["spec"]["nodeName"] for p in pods(sim, "shop", "agent-")} == nodes
