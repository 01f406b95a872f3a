"""The simulated kubelet and a Job pod's sidecar: a classic istio-proxy keeps the pod Running
after the app exits (unless the job quits the proxy), a native sidecar (an init container with
`restartPolicy: Always`, built here by hand) is started first, counts for Ready and is stopped
when the app ends, and the revision's proxy faults apply to it as an init container too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshsim.kube import batch, scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.controllers.base import JOB, POD, find_condition, pod_ready
from meshsim.kube.controllers.containers import RUN_SECONDS
from meshsim.kube.store import Obj
from tests.meshsim.kubesim_env import SimEnv, pods, started, wait_for

REV = "asm-1-22"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimEnv]:
    with started(tmp_path) as env:
        with env.sim.settled():
            env.sim.set_revisions([REV])
            scenarios.namespace(env.sim, "shop", {"istio.io/rev": REV})
            scenarios.namespace(env.sim, "plain")
        yield env


def native_pod(name: str, restart_policy: str = "Never", run_seconds: float = 3) -> Obj:
    """A pod as the injector makes it in native mode: istio-init, then istio-proxy as an init
    container with restartPolicy Always and a startupProbe."""
    image = proxy_image("1.22.5")
    status = {"initContainers": ["istio-init", "istio-proxy"], "containers": None,
              "revision": REV}
    proxy = {"name": "istio-proxy", "image": image, "restartPolicy": "Always",
             "startupProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021},
                              "periodSeconds": 1, "failureThreshold": 600}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": name, "namespace": "plain",
                "annotations": {"sidecar.istio.io/status": json.dumps(status),
                                RUN_SECONDS: str(run_seconds)}},
            "spec": {"restartPolicy": restart_policy,
                     "initContainers": [{"name": "istio-init", "image": image}, proxy],
                     "containers": [{"name": "app", "image": "contoso/app:1"}]}}


def pod(env: SimEnv, name: str, namespace: str = "plain") -> Obj:
    return env.sim.store.get(POD, namespace, name)


def statuses(p: Obj, key: str = "containerStatuses") -> dict[str, Obj]:
    return {s["name"]: s for s in p["status"].get(key) or ()}


def get_pod_row(env: SimEnv, name: str, namespace: str = "plain") -> list[str]:
    return env.kubectl("get", "pod", name, "-n", namespace, "--no-headers").stdout.split()


def test_a_classic_sidecar_keeps_a_job_pod_running_after_the_app_exits(env: SimEnv) -> None:
    env.sim.create(batch.job("shop", "migrate", "contoso/migrate:1", run_seconds=2))
    [p] = wait_for(lambda: [p for p in pods(env.sim, "shop", "migrate-")
                            if "terminated" in statuses(p)["migrate"]["state"]],
                   what="the app to exit")
    app, proxy = statuses(p)["migrate"], statuses(p)["istio-proxy"]
    assert app["state"]["terminated"]["exitCode"] == 0
    assert app["state"]["terminated"]["reason"] == "Completed" and not app["ready"]
    assert "running" in proxy["state"] and proxy["ready"]
    assert p["status"]["phase"] == "Running" and not pod_ready(p)
    assert find_condition(p, "Ready")["message"] == "containers with unready status: [migrate]"
    assert get_pod_row(env, p["metadata"]["name"], "shop")[1:3] == ["1/2", "NotReady"]
    status = env.sim.store.get(JOB, "shop", "migrate")["status"]
    assert status["active"] == 1 and status["ready"] == 0 and "conditions" not in status


def test_a_job_that_quits_its_classic_proxy_completes(env: SimEnv) -> None:
    env.sim.create(batch.job("shop", "quitter", "contoso/migrate:1", run_seconds=2,
                             quits_proxy=True))
    env.kubectl("wait", "--for=condition=complete", "job/quitter", "-n", "shop",
                "--timeout=30s")
    [p] = pods(env.sim, "shop", "quitter-")
    assert p["status"]["phase"] == "Succeeded"
    proxy = statuses(p)["istio-proxy"]["state"]["terminated"]
    assert (proxy["exitCode"], proxy["reason"]) == (0, "Completed")
    assert get_pod_row(env, p["metadata"]["name"], "shop")[1:3] == ["0/2", "Completed"]


def test_a_native_sidecar_starts_first_counts_for_ready_and_stops_when_the_app_ends(
        env: SimEnv) -> None:
    env.sim.create(native_pod("native-job", run_seconds=60))
    running = wait_for(lambda: pod_ready(pod(env, "native-job")) and pod(env, "native-job"),
                       what="the native pod Ready")
    proxy = statuses(running, "initContainerStatuses")["istio-proxy"]
    assert "running" in proxy["state"] and proxy["started"] and proxy["ready"]
    assert statuses(running, "initContainerStatuses")["istio-init"]["state"]["terminated"][
        "reason"] == "Completed"
    assert get_pod_row(env, "native-job")[1:3] == ["2/2", "Running"]
    done = wait_for(lambda: pod(env, "native-job")["status"]["phase"] == "Succeeded"
                    and pod(env, "native-job"), timeout=15, what="the native pod to complete")
    stopped = statuses(done, "initContainerStatuses")["istio-proxy"]
    assert stopped["state"]["terminated"]["exitCode"] == 0 and not stopped["ready"]
    assert find_condition(done, "Ready")["reason"] == "PodCompleted"
    assert find_condition(done, "PodReadyToStartContainers")["status"] == "False"
    assert get_pod_row(env, "native-job")[1:3] == ["0/2", "Completed"]


def test_a_never_ready_native_proxy_keeps_the_app_from_starting(env: SimEnv) -> None:
    env.sim.set_pod_fault("never-ready", REV)
    env.sim.create(native_pod("blocked", restart_policy="Always"))
    blocked = wait_for(lambda: find_condition(pod(env, "blocked"), "Initialized")
                       and pod(env, "blocked")["status"].get("podIP") and pod(env, "blocked"),
                       what="the sandbox")
    proxy = statuses(blocked, "initContainerStatuses")["istio-proxy"]
    assert "running" in proxy["state"] and not proxy["started"] and not proxy["ready"]
    assert statuses(blocked)["app"]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert blocked["status"]["phase"] == "Pending"
    assert find_condition(blocked, "Initialized")["message"] == (
        "containers with incomplete status: [istio-proxy]")
    assert get_pod_row(env, "blocked")[1:3] == ["0/2", "Init:1/2"]
    env.sim.clear_pod_faults()
    wait_for(lambda: pod_ready(pod(env, "blocked")), what="the app to start once the proxy is")


def test_a_crash_looping_native_proxy_is_reported_as_an_init_container(env: SimEnv) -> None:
    env.sim.create(native_pod("looping", restart_policy="Always"))
    wait_for(lambda: pod_ready(pod(env, "looping")), what="the pod Ready")
    env.sim.set_pod_fault("crashloop", REV)
    looping = wait_for(lambda: statuses(pod(env, "looping"), "initContainerStatuses")[
        "istio-proxy"]["restartCount"] >= 2 and pod(env, "looping"), what="restarts")
    proxy = statuses(looping, "initContainerStatuses")["istio-proxy"]
    assert proxy["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "running" in statuses(looping)["app"]["state"]  # the app had started; it runs on
    assert not pod_ready(looping)
    row = get_pod_row(env, "looping")
    assert row[1:3] == ["1/2", "Init:CrashLoopBackOff"] and int(row[3]) >= 2
