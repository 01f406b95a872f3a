"""The seed's commands with the real kubectl against the bookinfo cluster: the proxy image
census, relabelling, `rollout restart` / `rollout status` (success and progress deadline) for
Deployments, StatefulSets and DaemonSets, tag webhooks by label, and `kubectl run`."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshsim.kube import scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.controllers.base import pod_ready
from tests.meshsim.kubesim_env import SimEnv, containers, pods, started, wait_for

# The seed's census (000_4a9d4df2bcba0703.txt, patch section), verbatim.
CENSUS = ("kubectl get pods --all-namespaces -o jsonpath='{range .items[*]}{\"\\n\"}"
          "{.metadata.name}{\":\\t\"}{range .spec.containers[*]}{.image}{\", \"}{end}{end}' |"
          " sort | grep \"mcr.microsoft.com\\/oss\\/istio\\/proxyv2\"")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimEnv]:
    with started(tmp_path) as env:
        scenarios.bookinfo(env.sim)
        yield env


def test_seed_census_lists_every_proxy_image(env: SimEnv) -> None:
    lines = env.shell(CENSUS).splitlines()
    productpage = next(line for line in lines if line.startswith("productpage-v1-"))
    assert productpage.endswith(
        ":\tdocker.io/istio/examples-bookinfo-productpage-v1:1.20.2, "
        "mcr.microsoft.com/oss/istio/proxyv2:1.22.5-distroless, ")
    assert len(lines) == 21 + 4  # injected app pods + ingress gateway pods
    assert not any(line.startswith(("istiod-", "coredns-", "legacy-app-")) for line in lines)


def test_injector_configmaps_show_the_proxy_image_twice(env: SimEnv) -> None:
    out = env.shell("kubectl get cm -n aks-istio-system -o yaml"
                    ' | grep "mcr.microsoft.com\\/oss\\/istio\\/proxyv2"')
    assert [line.strip() for line in out.splitlines()] == [
        '"image": "mcr.microsoft.com/oss/istio/proxyv2:1.22.5-distroless",'] * 2


def test_relabel_restart_and_status_move_productpage_to_the_canary(env: SimEnv) -> None:
    env.sim.set_revisions(["asm-1-22", "asm-1-23"])
    env.kubectl("label", "ns", "default", "istio.io/rev=asm-1-23", "--overwrite")
    env.kubectl("rollout", "restart", "deployment/productpage-v1")
    done = env.kubectl("rollout", "status", "deployment/productpage-v1", "--timeout=60s")
    assert 'deployment "productpage-v1" successfully rolled out' in done.stdout
    [pod] = pods(env.sim, "default", "productpage-v1-")
    assert containers(pod)["istio-proxy"] == proxy_image("1.23.6")
    status = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    assert status["revision"] == "asm-1-23"
    [other] = pods(env.sim, "default", "details-v1-")
    assert containers(other)["istio-proxy"] == proxy_image("1.22.5")  # not restarted


def test_rollout_status_fails_on_the_progress_deadline_under_never_ready(env: SimEnv) -> None:
    env.sim.set_revisions(["asm-1-22", "asm-1-23"])
    env.kubectl("patch", "deployment/ratings-v1", "-p", '{"spec":{"progressDeadlineSeconds":10}}')
    env.kubectl("rollout", "status", "deployment/ratings-v1", "--timeout=30s")
    request = urllib.request.Request(f"{env.sim.url}/_sim/kube/faults/never-ready", method="POST",
                                     data=b'{"revision": "asm-1-23"}')
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201 and json.load(answer)["never-ready"] == ["asm-1-23"]
    env.kubectl("label", "ns", "default", "istio.io/rev=asm-1-23", "--overwrite")
    env.kubectl("rollout", "restart", "deployment/ratings-v1")
    failed = env.kubectl("rollout", "status", "deployment/ratings-v1", "--timeout=30s", check=False)
    assert failed.returncode != 0
    assert 'deployment "ratings-v1" exceeded its progress deadline' in failed.stderr


def test_rollout_status_reports_restarted_statefulset_and_daemonset_complete(
        env: SimEnv) -> None:
    env.kubectl("rollout", "restart", "statefulset/orders-db", "-n", "orders")
    sts = env.kubectl("rollout", "status", "statefulset/orders-db", "-n", "orders", "--timeout=60s")
    assert "partitioned roll out complete: 3 new pods have been updated..." in sts.stdout
    env.kubectl("rollout", "restart", "daemonset/log-agent", "-n", "monitoring")
    ds = env.kubectl("rollout", "status", "daemonset/log-agent", "-n", "monitoring",
                     "--timeout=60s")
    assert 'daemon set "log-agent" successfully rolled out' in ds.stdout


def test_tag_webhooks_are_found_by_label(env: SimEnv) -> None:
    out = env.kubectl("get", "mutatingwebhookconfigurations", "-l", "istio.io/tag",
                      "-o", "json")
    [tag] = json.loads(out.stdout)["items"]
    meta = tag["metadata"]
    assert meta["name"] == "istio-revision-tag-prod-stable-aks-istio-system"
    assert meta["labels"]["istio.io/tag"] == "prod-stable"
    assert meta["labels"]["istio.io/rev"] == "asm-1-22"
    assert meta["labels"]["admissions.enforcer/disabled"] == "true"
    assert not any("operator.istio.io" in key for key in meta["labels"])
    assert meta["labels"]["release"] == "azure-service-mesh-istio-discovery"
    hooks = {h["name"]: h for h in tag["webhooks"]}
    assert hooks["rev.namespace.sidecar-injector.istio.io"]["namespaceSelector"] == {
        "matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": ["prod-stable"]},
                             {"key": "istio-injection", "operator": "DoesNotExist"}]}
    canonical = json.loads(env.kubectl(
        "get", "mutatingwebhookconfiguration",
        "istio-sidecar-injector-asm-1-22-aks-istio-system", "-o", "json").stdout)
    assert {h["clientConfig"]["caBundle"] for h in tag["webhooks"]} == {
        canonical["webhooks"][0]["clientConfig"]["caBundle"]}


def test_kubectl_run_in_a_tagged_namespace_gets_the_sidecar(env: SimEnv) -> None:
    env.kubectl("run", "debug", "--image=busybox:1.36", "-n", "frontend")
    pod = json.loads(env.kubectl("get", "pod", "debug", "-n", "frontend", "-o", "json").stdout)
    assert [c["image"] for c in pod["spec"]["containers"]] == [
        "busybox:1.36", proxy_image("1.22.5")]
    assert pod["metadata"]["annotations"]["istio.io/rev"] == "asm-1-22"


def test_deleted_pods_are_replaced_and_deleted_deployments_take_their_pods(env: SimEnv) -> None:
    [old] = pods(env.sim, "default", "reviews-v1-")
    env.kubectl("delete", "pod", old["metadata"]["name"], "--wait=false")
    # The Deployment's status may still count the deleted pod for a moment, so `rollout
    # status` alone could answer before the ReplicaSet has made the replacement.
    [new] = wait_for(lambda: [p for p in pods(env.sim, "default", "reviews-v1-") if pod_ready(p)],
                     what="a ready replacement pod")
    assert new["metadata"]["name"] != old["metadata"]["name"] and "istio-proxy" in containers(new)
    env.kubectl("rollout", "status", "deployment/reviews-v1", "--timeout=30s")
    env.kubectl("delete", "deployment", "reviews-v2", "--wait=false")
    wait_for(lambda: not pods(env.sim, "default", "reviews-v2-"), what="garbage collection")
