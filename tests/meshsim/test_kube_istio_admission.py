"""Which webhook injects a pod, and with which revision (istio-kube.md §2, §3, §7).

Pods are created through the Store (the API server's create path, admission included) on a
settled cluster; the last tests go through the real `kubernetes` client over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from meshsim.clock import SimClock
from meshsim.kube import scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.cluster import KubeSim
from meshsim.kube.resources import by_kind
from meshsim.kube.store import APIError, Obj
from meshsim.kube.tags import tag_webhook
from tests.meshsim.kubesim_env import containers, started

POD, MWC = by_kind("Pod"), by_kind("MutatingWebhookConfiguration")
V22 = proxy_image("1.22.5")
V23 = proxy_image("1.23.6")


@pytest.fixture
def sim() -> KubeSim:
    """asm-1-22 and asm-1-23 installed, a prod-stable tag on asm-1-22; everything Ready."""
    sim = KubeSim(SimClock(speed=20))
    with sim.settled():
        sim.set_revisions(["asm-1-22", "asm-1-23"])
        scenarios.set_tag(sim, "prod-stable", "asm-1-22")
    return sim


def make_pod(sim: KubeSim, namespace: str, ns_labels: dict[str, str] | None = None,
             pod_labels: dict[str, str] | None = None, **spec: object) -> Obj:
    if sim.store.find(by_kind("Namespace"), "", namespace) is None:
        scenarios.namespace(sim, namespace, ns_labels)
    body = {"metadata": {"name": "app", "labels": {"app": "app", **(pod_labels or {})}},
            "spec": {"containers": [{"name": "app", "image": "contoso/app:1"}], **spec}}
    return sim.store.create(POD, body, namespace)


def status_revision(pod: Obj) -> str:
    return str(json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])["revision"])


def test_namespace_revision_label_injects_that_revisions_sidecar(sim: KubeSim) -> None:
    pod = make_pod(sim, "shop", {"istio.io/rev": "asm-1-23"})
    assert containers(pod) == {"app": "contoso/app:1", "istio-proxy": V23}
    assert [c["image"] for c in pod["spec"]["initContainers"]] == [V23]
    meta = pod["metadata"]
    assert status_revision(pod) == "asm-1-23" and meta["annotations"]["istio.io/rev"] == "asm-1-23"
    assert meta["labels"]["security.istio.io/tlsMode"] == "istio"
    assert meta["labels"]["service.istio.io/canonical-name"] == "app"
    assert meta["labels"]["service.istio.io/canonical-revision"] == "latest"


def test_tag_namespace_gets_the_tagged_revision_never_the_tag_name(sim: KubeSim) -> None:
    pod = make_pod(sim, "frontend", {"istio.io/rev": "prod-stable"})
    assert containers(pod)["istio-proxy"] == V22
    assert status_revision(pod) == "asm-1-22"
    assert pod["metadata"]["annotations"]["istio.io/rev"] == "asm-1-22"


def test_istio_injection_label_blocks_every_revision_webhook(sim: KubeSim) -> None:
    enabled = make_pod(sim, "legacy", {"istio-injection": "enabled"})
    both = make_pod(sim, "mixed", {"istio-injection": "disabled", "istio.io/rev": "asm-1-22"})
    assert "istio-proxy" not in containers(enabled) and "istio-proxy" not in containers(both)
    assert "sidecar.istio.io/status" not in (both["metadata"].get("annotations") or {})


def test_pod_revision_label_counts_only_where_the_namespace_has_none(sim: KubeSim) -> None:
    bare = make_pod(sim, "bare", {}, {"istio.io/rev": "asm-1-23"})
    ns_wins = make_pod(sim, "ns22", {"istio.io/rev": "asm-1-22"}, {"istio.io/rev": "asm-1-23"})
    assert status_revision(bare) == "asm-1-23"
    assert status_revision(ns_wins) == "asm-1-22"


def test_no_matching_webhook_means_no_sidecar(sim: KubeSim) -> None:
    unknown = make_pod(sim, "gone", {"istio.io/rev": "asm-1-19"})
    unlabelled = make_pod(sim, "plain")
    opted_out = make_pod(sim, "optout", {"istio.io/rev": "asm-1-22"},
                         {"sidecar.istio.io/inject": "false"})
    for pod in (unknown, unlabelled, opted_out):
        assert list(containers(pod)) == ["app"]


def test_ignored_namespaces_and_host_network_pods_are_never_injected(sim: KubeSim) -> None:
    system = make_pod(sim, "kube-system", {"istio.io/rev": "asm-1-22"})
    host = make_pod(sim, "hostnet", {"istio.io/rev": "asm-1-22"}, hostNetwork=True)
    annotated = make_pod(sim, "annot", {"istio.io/rev": "asm-1-22"})
    assert list(containers(system)) == ["app"] and list(containers(host)) == ["app"]
    assert "istio-proxy" in containers(annotated)


def test_unready_istiod_with_fail_policy_rejects_the_pod_like_the_api_server(sim: KubeSim) -> None:
    for pod in sim.store.list(POD, "aks-istio-system"):
        if pod["metadata"]["labels"].get("istio.io/rev") == "asm-1-22":
            sim.store.update(POD, dict(pod, status={"phase": "Running", "conditions": [
                {"type": "Ready", "status": "False"}]}), status_only=True)
    with pytest.raises(APIError) as caught:
        make_pod(sim, "payments", {"istio.io/rev": "asm-1-22"})
    assert caught.value.code == 500 and caught.value.reason == "InternalError"
    assert caught.value.message == (
        'Internal error occurred: failed calling webhook '
        '"rev.namespace.sidecar-injector.istio.io": failed to call webhook: Post "https://istiod-asm-1-22.aks-istio-system.svc:443/inject'
        '?timeout=10s": no endpoints available for service "istiod-asm-1-22"')
    assert sim.store.find(POD, "payments", "app") is None


def test_missing_istiod_service_rejects_and_ignore_policy_admits_without_sidecar(
        sim: KubeSim) -> None:
    sim.store.delete(by_kind("Service"), "aks-istio-system", "istiod-asm-1-23")
    with pytest.raises(APIError, match='service "istiod-asm-1-23" not found'):
        make_pod(sim, "orders", {"istio.io/rev": "asm-1-23"})
    with sim.store.lock:
        mwc = sim.store.get(MWC, "", "istio-sidecar-injector-asm-1-23-aks-istio-system")
        hooks = [dict(h, failurePolicy="Ignore") for h in mwc["webhooks"]]
        sim.store.update(MWC, dict(mwc, webhooks=hooks))
    pod = make_pod(sim, "orders")
    assert list(containers(pod)) == ["app"]


def test_two_matching_webhooks_both_run_by_name_and_the_last_sidecar_stays(sim: KubeSim) -> None:
    canonical = sim.store.get(MWC, "", "istio-sidecar-injector-asm-1-23-aks-istio-system")
    duplicate = tag_webhook(canonical, "prod-stable")
    duplicate["metadata"]["name"] = "aaa-istio-revision-tag-prod-stable"
    sim.store.create(MWC, duplicate)
    pod = make_pod(sim, "frontend", {"istio.io/rev": "prod-stable"})
    # asm-1-23's webhook ran first; asm-1-22's, called second, re-injected its output
    assert status_revision(pod) == "asm-1-22"
    assert containers(pod) == {"app": "contoso/app:1", "istio-proxy": V22}
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["istio-init"]
    [warning] = sim.admission_warnings
    assert warning["namespace"] == "frontend"
    assert warning["webhooks"] == [
        "aaa-istio-revision-tag-prod-stable/rev.namespace.sidecar-injector.istio.io",
        "istio-revision-tag-prod-stable-aks-istio-system/rev.namespace.sidecar-injector.istio.io"]
    assert "Webhook overlaps with others" in warning["message"]


def test_kubernetes_client_sees_the_injected_pod_and_the_rejection(tmp_path: Path) -> None:
    with started(tmp_path) as env:
        with env.sim.settled():
            env.sim.set_revisions(["asm-1-22"])
            scenarios.namespace(env.sim, "shop", {"istio.io/rev": "asm-1-22"})
            scenarios.namespace(env.sim, "broken", {"istio.io/rev": "prod-canary"})
        core = client.CoreV1Api(env.api())
        body = client.V1Pod(
            metadata=client.V1ObjectMeta(name="web", labels={"app": "web", "version": "v2"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="web",
                                                                 image="contoso/web:2")]))
        made = core.create_namespaced_pod("shop", body)
        assert made.spec is not None and made.metadata is not None
        assert [c.name for c in made.spec.containers] == ["web", "istio-proxy"]
        assert (made.metadata.labels or {})["service.istio.io/canonical-revision"] == "v2"
        canonical = env.sim.store.get(MWC, "", "istio-sidecar-injector-asm-1-22-aks-istio-system")
        tag = tag_webhook(canonical, "prod-canary")
        tag["metadata"]["labels"]["istio.io/rev"] = "asm-1-23"
        for hook in tag["webhooks"]:
            hook["clientConfig"]["service"]["name"] = "istiod-asm-1-23"
        env.sim.store.create(MWC, tag)
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_pod("broken", body)
        assert caught.value.status == 500
        message = json.loads(str(caught.value.body))["message"]
        assert 'service "istiod-asm-1-23" not found' in message
