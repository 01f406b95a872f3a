"""The seed's cluster as `scenarios.bookinfo` builds it: steady, genuinely injected, and the
namespaces labelled the way the upgrade starts from."""

from __future__ import annotations

import json
from pathlib import Path

from meshsim.clock import SimClock
from meshsim.kube import scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.cluster import KubeSim
from meshsim.kube.controllers.base import pod_ready
from meshsim.kube.resources import by_kind
from tests.meshsim.kubesim_env import POD, containers, rolled_out, started

NS, MWC, CM = by_kind("Namespace"), by_kind("MutatingWebhookConfiguration"), by_kind("ConfigMap")


def build() -> KubeSim:
    sim = KubeSim(SimClock(speed=20))
    scenarios.bookinfo(sim)
    return sim


def test_every_pod_is_running_ready_and_owned() -> None:
    sim = build()
    every = sim.store.list(POD)
    assert len(every) == 32
    assert all(p["status"]["phase"] == "Running" and pod_ready(p) for p in every)
    assert all(p["metadata"].get("ownerReferences") for p in every)
    for name in ("productpage-v1", "details-v1", "ratings-v1", "reviews-v1", "reviews-v2",
                 "reviews-v3"):
        assert rolled_out(sim, "default", name)


def test_injection_follows_the_namespace_labels() -> None:
    sim = build()
    by_ns: dict[str, set[str]] = {}
    for pod in sim.store.list(POD):
        status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
        by_ns.setdefault(pod["metadata"]["namespace"], set()).add(
            json.loads(status)["revision"] if status else "-")
    assert by_ns == {"default": {"asm-1-22"}, "payments": {"asm-1-22"}, "orders": {"asm-1-22"},
                     "frontend": {"asm-1-22"}, "catalog": {"asm-1-22"}, "monitoring": {"asm-1-22"},
                     "legacy": {"-"}, "kube-system": {"-"}, "aks-istio-system": {"-"},
                     "aks-istio-ingress": {"-"}}
    labels = {n["metadata"]["name"]: n["metadata"]["labels"].get("istio.io/rev")
              for n in sim.store.list(NS)}
    assert labels["default"] == "asm-1-22" and labels["frontend"] == "prod-stable"
    legacy = sim.store.get(NS, "", "legacy")["metadata"]["labels"]
    assert legacy["istio-injection"] == "enabled"
    assert sim.admission_warnings == []


def test_tag_shared_meshconfig_and_cluster_identity() -> None:
    sim = build()
    [tag] = [m for m in sim.store.list(MWC) if "istio.io/tag" in m["metadata"]["labels"]]
    assert tag["metadata"]["name"] == "istio-revision-tag-prod-stable-aks-istio-system"
    assert sim.store.find(CM, "aks-istio-system", "istio-shared-configmap-asm-1-22") is not None
    assert (sim.cluster_name, sim.kubernetes_version, sim.revisions()) == (
        "aks-sandbox", "1.30.6", ["asm-1-22"])
    assert sim.ingress_modes == ("external", "internal")


def test_started_cluster_serves_bookinfo_to_kubectl(tmp_path: Path) -> None:
    with started(tmp_path) as env:
        scenarios.bookinfo(env.sim)
        out = env.kubectl("get", "pods", "-n", "default", "-o", "json")
        items = json.loads(out.stdout)["items"]
        assert len(items) == 6
        assert {containers(p)["istio-proxy"] for p in items} == {proxy_image("1.22.5")}
