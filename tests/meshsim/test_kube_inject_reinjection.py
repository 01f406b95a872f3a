"""A pod that arrives already injected (copied from a live pod, or `istioctl kube-inject`
output) is re-injected by the webhook that matches: it ends with exactly one sidecar, the
matching revision's (istiod's stripPod). Driven through the store, the `kubernetes` client
and real `kubectl apply -f`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from meshsim.kube import scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.store import Obj
from tests.meshsim.kubesim_env import POD, SimEnv, containers, pods, started

V22, V23 = proxy_image("1.22.5"), proxy_image("1.23.6")
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimEnv]:
    """asm-1-22 and asm-1-23 installed; `old` on asm-1-22, `new` on asm-1-23."""
    with started(tmp_path) as env:
        with env.sim.settled():
            env.sim.set_revisions(["asm-1-22", "asm-1-23"])
            scenarios.namespace(env.sim, "old", {"istio.io/rev": "asm-1-22"})
            scenarios.namespace(env.sim, "new", {"istio.io/rev": "asm-1-23"})
        yield env


def injected_on_asm_1_22(env: SimEnv, name: str = "web") -> Obj:
    """A live pod's manifest as `kubectl get -o json` shows it, minus what the server owns."""
    body = {"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "contoso/web:2"}]}}
    live = env.sim.store.create(POD, body, "old")
    meta = {k: v for k, v in live["metadata"].items() if k not in SERVER_FIELDS}
    spec = {k: v for k, v in live["spec"].items() if k != "nodeName"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": dict(meta, namespace="new"),
            "spec": spec}


def status(pod: Obj) -> Obj:
    return dict(json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"]))


def assert_one_asm_1_23_sidecar(pod: Obj) -> None:
    assert containers(pod) == {"web": "contoso/web:2", "istio-proxy": V23}
    assert [(c["name"], c["image"]) for c in pod["spec"]["initContainers"]] == [
        ("istio-init", V23)]
    names = Counter(v["name"] for v in pod["spec"]["volumes"])
    assert set(names.values()) == {1} and "istio-envoy" in names
    assert status(pod)["revision"] == "asm-1-23"
    assert pod["metadata"]["annotations"]["istio.io/rev"] == "asm-1-23"


def test_copied_pod_is_stripped_and_injected_again_by_its_namespace_revision(
        env: SimEnv) -> None:
    manifest = injected_on_asm_1_22(env)
    assert containers(manifest)["istio-proxy"] == V22  # what it carried in
    pod = env.sim.store.create(POD, manifest, "new")
    assert_one_asm_1_23_sidecar(pod)
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "15020"


def test_kubernetes_client_create_of_an_injected_pod_gets_one_sidecar(env: SimEnv) -> None:
    manifest = injected_on_asm_1_22(env, "copy")
    core = client.CoreV1Api(env.api())
    core.create_namespaced_pod("new", manifest)
    answer = core.read_namespaced_pod("copy", "new", _preload_content=False)
    assert_one_asm_1_23_sidecar(json.loads(answer.data))


def test_kubectl_apply_of_a_kube_injected_manifest_gets_one_sidecar(
        env: SimEnv, tmp_path: Path) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(yaml.safe_dump(injected_on_asm_1_22(env, "applied")))
    done = env.kubectl("apply", "-f", str(path))
    assert done.stdout.strip() == "pod/applied created"
    got = json.loads(env.kubectl("get", "pod", "applied", "-n", "new", "-o", "json").stdout)
    assert_one_asm_1_23_sidecar(got)


def test_pod_without_a_matching_webhook_keeps_what_it_brought(env: SimEnv) -> None:
    scenarios.namespace(env.sim, "plain")
    manifest = injected_on_asm_1_22(env)
    pod = env.sim.store.create(POD, dict(manifest, metadata=dict(manifest["metadata"],
                                                                 namespace="plain")), "plain")
    assert containers(pod)["istio-proxy"] == V22
    assert status(pod)["revision"] == "asm-1-22"


def test_kube_injected_deployment_template_rolls_out_with_the_namespace_revision(
        env: SimEnv) -> None:
    template = injected_on_asm_1_22(env)
    body = scenarios.deployment("new", "web", "contoso/web:2", 2)
    body["spec"]["template"] = {"metadata": {"labels": {"app": "web"}, "annotations": dict(
        template["metadata"]["annotations"])}, "spec": template["spec"]}
    with env.sim.settled():
        env.sim.create(body)
    made = pods(env.sim, "new", "web-")
    assert len(made) == 2
    for pod in made:
        assert_one_asm_1_23_sidecar(pod)
