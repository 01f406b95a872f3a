"""Finished pods on the simulated node: an evicted pod stays Failed (reason Evicted) while its
owner replaces it, a status written through `pods/status` is the kubelet's to keep or not as on
a real node, and the API server refuses what its pod status validation refuses."""

from __future__ import annotations

import copy
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from meshsim.clock import SimClock
from meshsim.kube import batch, scenarios
from meshsim.kube.cluster import KubeSim
from meshsim.kube.controllers.base import (
    DAEMONSET,
    DEPLOYMENT,
    POD,
    REPLICASET,
    STATEFULSET,
    find_condition,
    pod_ready,
)
from meshsim.kube.printers import seconds
from meshsim.kube.store import Obj
from tests.meshsim.kubesim_env import SimEnv, pods, restart, rolled_out, started, wait_for

REV = "asm-1-22"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimEnv]:
    with started(tmp_path) as env:
        with env.sim.settled():
            env.sim.set_revisions([REV])
            scenarios.namespace(env.sim, "shop", {"istio.io/rev": REV})
            env.sim.create(scenarios.deployment("shop", "web", "contoso/web:1", 2))
            env.sim.create(scenarios.statefulset("shop", "db", "contoso/db:1", 2))
            env.sim.create(scenarios.daemonset("shop", "agent", "contoso/agent:1"))
        yield env


def evict_over_http(env: SimEnv, namespace: str, name: str) -> tuple[int, Any]:
    body = json.dumps({"namespace": namespace, "name": name}).encode()
    request = urllib.request.Request(f"{env.sim.url}/_sim/kube/evict", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def pod(env: SimEnv, name: str) -> Obj:
    return env.sim.store.get(POD, "shop", name)


def core(env: SimEnv) -> client.CoreV1Api:
    return client.CoreV1Api(env.api())


def test_an_evicted_pod_stays_failed_and_its_replicaset_makes_a_replacement(env: SimEnv) -> None:
    victim = pods(env.sim, "shop", "web-")[0]["metadata"]["name"]
    code, answer = evict_over_http(env, "shop", victim)
    assert code == 200 and (answer["phase"], answer["reason"]) == ("Failed", "Evicted")
    assert answer["message"].startswith("The node was low on resource: memory. Threshold "
                                        "quantity: 750Mi, available: ")
    assert "Container web was using " in answer["message"]
    evicted = pod(env, victim)
    assert find_condition(evicted, "DisruptionTarget")["reason"] == "TerminationByKubelet"
    assert find_condition(evicted, "Ready")["reason"] == "PodFailed"
    for status in evicted["status"]["containerStatuses"]:
        ended = status["state"]["terminated"]
        assert (ended["exitCode"], ended["reason"]) == (137, "ContainerStatusUnknown")
    def others_ready() -> bool:
        return sum(1 for p in pods(env.sim, "shop", "web-")
                   if p["metadata"]["name"] != victim and pod_ready(p)) == 2

    wait_for(others_ready, what="a ready replacement")
    assert len(pods(env.sim, "shop", "web-")) == 3
    wait_for(lambda: rolled_out(env.sim, "shop", "web"), what="the deployment whole again")
    [rs] = env.sim.store.list(REPLICASET, "shop")
    assert rs["status"]["replicas"] == 2  # the evicted pod no longer counts
    assert env.sim.store.get(DEPLOYMENT, "shop", "web")["status"]["replicas"] == 2
    assert pod(env, victim)["status"]["phase"] == "Failed"  # kept; no pod GC below 12500
    row = env.kubectl("get", "pod", victim, "-n", "shop", "--no-headers").stdout.split()
    assert row[1:3] == ["0/2", "ContainerStatusUnknown"]
    assert evict_over_http(env, "shop", victim)[0] == 409  # only running pods are evicted


def test_an_evicted_statefulset_pod_is_recreated_under_its_own_name(env: SimEnv) -> None:
    old_uid = pod(env, "db-1")["metadata"]["uid"]
    batch.evict(env.sim, "shop", "db-1")
    fresh = wait_for(lambda: pod_ready(pod(env, "db-1")) and pod(env, "db-1"),
                     what="db-1 again")
    assert fresh["metadata"]["uid"] != old_uid and fresh["status"]["phase"] == "Running"
    assert env.sim.store.get(STATEFULSET, "shop", "db")["status"]["readyReplicas"] == 2


def test_an_evicted_daemonset_pod_is_deleted_and_its_node_gets_a_new_one(env: SimEnv) -> None:
    victim = pods(env.sim, "shop", "agent-")[0]
    node = victim["spec"]["nodeName"]
    batch.evict(env.sim, "shop", victim["metadata"]["name"], resource="ephemeral-storage")

    def replaced() -> list[Obj]:
        on_node = [p for p in pods(env.sim, "shop", "agent-") if p["spec"]["nodeName"] == node]
        return [p for p in on_node if pod_ready(p)] if len(on_node) == 1 else []

    [new] = wait_for(replaced, what="a new daemon pod on the node")
    assert new["metadata"]["name"] != victim["metadata"]["name"]
    status = env.sim.store.get(DAEMONSET, "shop", "agent")["status"]
    assert status["numberReady"] == status["desiredNumberScheduled"] == 3


def test_a_terminal_status_written_through_the_api_sticks(env: SimEnv) -> None:
    name = pods(env.sim, "shop", "web-")[0]["metadata"]["name"]
    core(env).patch_namespaced_pod_status(name, "shop", {"status": {
        "phase": "Failed", "reason": "NodeShutdown",
        "message": "Pod was terminated in response to imminent node shutdown."}})
    env.sim.set_pod_fault("crashloop", REV)  # the kubelet looks at every injected pod again
    wait_for(lambda: len(pods(env.sim, "shop", "web-")) == 3, what="a replacement")
    wait_for(lambda: env.sim.clock.now() > _stamp(pod(env, name)) + 30, what="time to pass")
    kept = pod(env, name)["status"]
    assert (kept["phase"], kept["reason"]) == ("Failed", "NodeShutdown")
    assert "running" in kept["containerStatuses"][0]["state"]  # left as written


def test_the_kubelet_keeps_conditions_it_does_not_own(env: SimEnv) -> None:
    name = pods(env.sim, "shop", "web-")[0]["metadata"]["name"]
    gate = {"type": "example.com/traffic", "status": "True",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}
    # A strategic merge patch: conditions merge by type, so the kubelet's stay.
    core(env).patch_namespaced_pod_status(name, "shop", {"status": {"conditions": [gate]}})
    assert find_condition(pod(env, name), "example.com/traffic") == gate
    env.sim.set_pod_fault("never-ready", REV)  # the kubelet's own view changes and is written
    wait_for(lambda: not pod_ready(pod(env, name)), what="the kubelet to write")
    assert find_condition(pod(env, name), "example.com/traffic") == gate


def test_a_finished_job_pod_is_never_brought_back(env: SimEnv) -> None:
    env.sim.create(batch.job("shop", "once", "contoso/once:1", run_seconds=1, quits_proxy=True))
    env.kubectl("wait", "--for=condition=complete", "job/once", "-n", "shop", "--timeout=30s")
    [done] = pods(env.sim, "shop", "once-")
    name, version = done["metadata"]["name"], done["metadata"]["resourceVersion"]
    env.sim.set_pod_fault("crashloop", REV)
    wait_for(lambda: env.sim.clock.now() > _stamp(done) + 60, what="time to pass")
    assert pod(env, name)["metadata"]["resourceVersion"] == version
    # The API server has no rule against moving a pod out of Succeeded (kubernetes#125410);
    # the kubelet, which still has it as finished, puts the phase back.
    core(env).patch_namespaced_pod_status(name, "shop", {"status": {"phase": "Running"}})
    wait_for(lambda: pod(env, name)["status"]["phase"] == "Succeeded",
             what="the kubelet to restore the phase")


def test_the_api_refuses_to_restart_an_ended_container_of_a_never_restarting_pod(
        env: SimEnv) -> None:
    env.sim.create(batch.job("shop", "ended", "contoso/once:1", run_seconds=0, quits_proxy=True))
    env.kubectl("wait", "--for=condition=complete", "job/ended", "-n", "shop", "--timeout=30s")
    [done] = pods(env.sim, "shop", "ended-")
    statuses = copy.deepcopy(done["status"]["containerStatuses"])
    statuses[0]["state"] = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    with pytest.raises(ApiException) as refused:
        core(env).patch_namespaced_pod_status(done["metadata"]["name"], "shop",
                                              {"status": {"containerStatuses": statuses}})
    assert refused.value.status == 422
    assert json.loads(refused.value.body)["message"] == (
        f'Pod "{done["metadata"]["name"]}" is invalid: status.containerStatuses[0].state: '
        "Forbidden: may not be transitioned to non-terminated state")


def _stamp(p: Obj) -> float:
    return seconds(p["metadata"]["creationTimestamp"])


def test_an_app_marked_to_crash_sits_in_crash_loop_back_off(env: SimEnv) -> None:
    body = scenarios.deployment("shop", "crashy", "contoso/crashy:1", 1)
    body["spec"]["template"]["metadata"]["annotations"] = {batch.CRASHLOOP: "true"}
    env.sim.create(body)

    def looping() -> Obj | None:
        found = pods(env.sim, "shop", "crashy-")
        # a pod not yet scheduled has no containerStatuses, as on a real API server
        statuses = found[0]["status"].get("containerStatuses") or [{}] if found else [{}]
        return found[0] if statuses[0].get("restartCount", 0) >= 2 else None

    crashed = wait_for(looping, what="two restarts")
    app = crashed["status"]["containerStatuses"][0]
    assert app["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert (app["lastState"]["terminated"]["exitCode"], app["lastState"]["terminated"][
        "reason"]) == (1, "Error")
    assert crashed["status"]["phase"] == "Running" and not pod_ready(crashed)
    row = env.kubectl("get", "pod", crashed["metadata"]["name"], "-n", "shop",
                      "--no-headers").stdout.split()
    assert row[2] == "CrashLoopBackOff"
    assert re.fullmatch(r"\d+ \(\d+s ago\)", " ".join(row[3:6]))  # RESTARTS, as kubectl shows
    assert "availableReplicas" not in env.sim.store.get(DEPLOYMENT, "shop", "crashy")["status"]


def test_a_statefulset_restarted_while_settling_comes_back_running(tmp_path: Path) -> None:
    sim = KubeSim(SimClock())
    with sim.settled():
        scenarios.namespace(sim, "db")
        sim.create(scenarios.statefulset("db", "pg", "postgres:16", 2))
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(sim, "db")}
    restart(sim, "db", "pg", kind="StatefulSet")
    sim.settle()  # each pod deleted and made again under its name within one settle
    after = pods(sim, "db")
    assert sorted(p["metadata"]["name"] for p in after) == sorted(before)
    assert all(p["metadata"]["uid"] != before[p["metadata"]["name"]] and pod_ready(p)
               for p in after)
