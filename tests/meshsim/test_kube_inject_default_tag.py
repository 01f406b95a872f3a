"""The `default` revision tag, as `istioctl tag set default --revision <rev> --istioNamespace
aks-istio-system` makes it (revision-tags.yaml @1.27.0): besides rev.namespace/rev.object it
carries the default revision's webhooks, so `istio-injection=enabled` namespaces and pods
labelled `sidecar.istio.io/inject=true` are injected by the tagged revision's istiod."""

from __future__ import annotations

import json

import pytest

from meshsim.clock import SimClock
from meshsim.kube import scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.cluster import KubeSim
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj
from meshsim.kube.tags import tag_webhook
from tests.meshsim.kubesim_env import POD, containers

MWC = by_kind("MutatingWebhookConfiguration")
V22, V23 = proxy_image("1.22.5"), proxy_image("1.23.6")


@pytest.fixture
def sim() -> KubeSim:
    """asm-1-22 and asm-1-23 installed, the `default` tag on asm-1-23."""
    sim = KubeSim(SimClock(speed=20))
    with sim.settled():
        sim.set_revisions(["asm-1-22", "asm-1-23"])
        scenarios.set_tag(sim, "default", "asm-1-23")
    return sim


def make_pod(sim: KubeSim, namespace: str, ns_labels: dict[str, str],
             pod_labels: dict[str, str] | None = None) -> Obj:
    scenarios.namespace(sim, namespace, ns_labels)
    body = {"metadata": {"name": "app", "labels": {"app": "app", **(pod_labels or {})}},
            "spec": {"containers": [{"name": "app", "image": "contoso/app:1"}]}}
    return sim.store.create(POD, body, namespace)


def revision(pod: Obj) -> str | None:
    status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
    return json.loads(status)["revision"] if status else None


def test_default_tag_carries_the_default_revisions_webhooks(sim: KubeSim) -> None:
    mwc = sim.store.get(MWC, "", "istio-revision-tag-default-aks-istio-system")
    assert mwc["metadata"]["labels"]["istio.io/tag"] == "default"
    assert [h["name"] for h in mwc["webhooks"]] == [
        "rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io",
        "namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"]
    namespace, obj = mwc["webhooks"][2], mwc["webhooks"][3]
    assert namespace["namespaceSelector"] == {"matchExpressions": [
        {"key": "istio-injection", "operator": "In", "values": ["enabled"]}]}
    assert obj["objectSelector"]["matchExpressions"][0] == {
        "key": "sidecar.istio.io/inject", "operator": "In", "values": ["true"]}
    assert {h["clientConfig"]["service"]["name"] for h in mwc["webhooks"]} == {"istiod-asm-1-23"}


def test_other_tags_and_auto_inject_namespaces(sim: KubeSim) -> None:
    canonical = sim.store.get(MWC, "", "istio-sidecar-injector-asm-1-23-aks-istio-system")
    assert len(tag_webhook(canonical, "prod-stable")["webhooks"]) == 2
    auto = tag_webhook(canonical, "default", auto_inject_namespaces=True)["webhooks"][-1]
    assert auto["name"] == "auto.sidecar-injector.istio.io"
    assert auto["namespaceSelector"]["matchExpressions"][-1]["values"][0] == "kube-system"


def test_istio_injection_enabled_namespace_is_injected_by_the_tagged_revision(
        sim: KubeSim) -> None:
    pod = make_pod(sim, "legacy", {"istio-injection": "enabled"})
    assert containers(pod)["istio-proxy"] == V23 and revision(pod) == "asm-1-23"
    assert pod["metadata"]["annotations"]["istio.io/rev"] == "asm-1-23"


def test_inject_true_pod_in_an_unlabelled_namespace_is_injected(sim: KubeSim) -> None:
    pod = make_pod(sim, "plain", {}, {"sidecar.istio.io/inject": "true"})
    assert revision(pod) == "asm-1-23"
    assert revision(make_pod(sim, "bare", {})) is None  # no label at all: no webhook


@pytest.mark.parametrize(("ns_labels", "pod_labels", "expected"), [
    ({"istio-injection": "disabled"}, {}, None),
    ({"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}, None),
    ({"istio.io/rev": "asm-1-22"}, {"sidecar.istio.io/inject": "true"}, "asm-1-22"),
    ({"istio.io/rev": "default"}, {}, "asm-1-23"),
])
def test_namespace_labels_still_decide_first(
        sim: KubeSim, ns_labels: dict[str, str], pod_labels: dict[str, str],
        expected: str | None) -> None:
    pod = make_pod(sim, "team", ns_labels, pod_labels)
    assert revision(pod) == expected
    assert sim.admission_warnings == []  # exactly one webhook (or none) matched


def test_without_a_default_tag_istio_injection_enabled_is_ignored() -> None:
    sim = KubeSim(SimClock(speed=20))
    with sim.settled():
        sim.set_revisions(["asm-1-22"])
    assert "istio-proxy" not in containers(make_pod(sim, "legacy", {"istio-injection": "enabled"}))
