"""The add-on's objects per revision, `apply_revisions` both ways, patch bumps, the canary HPA
rule and the `/_sim/kube/` control routes."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshsim.kube import scenarios
from meshsim.kube.addon_objects import pilot_image, proxy_image
from meshsim.kube.resources import RESOURCE_TYPES, by_kind
from meshsim.kube.store import Obj
from tests.meshsim.kubesim_env import (
    DEPLOYMENT,
    SimEnv,
    containers,
    pods,
    rolled_out,
    started,
    wait_for,
)

SVC, CM, HPA = by_kind("Service"), by_kind("ConfigMap"), by_kind("HorizontalPodAutoscaler")
MWC, VWC = by_kind("MutatingWebhookConfiguration"), by_kind("ValidatingWebhookConfiguration")
SYS, ING = "aks-istio-system", "aks-istio-ingress"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimEnv]:
    with started(tmp_path) as env:
        with env.sim.settled():
            env.sim.set_revisions(["asm-1-22"])
        yield env


def control(env: SimEnv, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(env.sim.url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def injector_image(env: SimEnv, revision: str) -> str:
    cm = env.sim.store.get(CM, SYS, f"istio-sidecar-injector-{revision}")
    return str(json.loads(cm["data"]["values"])["global"]["proxy"]["image"])


def control_plane_ready(env: SimEnv, revision: str) -> bool:
    names = [(SYS, f"istiod-{revision}")] + [
        (ING, f"aks-istio-ingressgateway-{m}-{revision}") for m in ("external", "internal")]
    return all(env.sim.store.find(DEPLOYMENT, ns, n) and rolled_out(env.sim, ns, n)
               for ns, n in names)


def test_revision_objects_match_the_aks_inventory(env: SimEnv) -> None:
    store = env.sim.store
    istiod = store.get(DEPLOYMENT, SYS, "istiod-asm-1-22")
    assert {k: istiod["metadata"]["labels"][k] for k in ("app", "istio.io/rev", "istio")} == {
        "app": "istiod", "istio.io/rev": "asm-1-22", "istio": "pilot"}
    assert containers(istiod["spec"]["template"]) == {"discovery": pilot_image("1.22.5")}
    [pod, _] = pods(env.sim, SYS, "istiod-asm-1-22-")
    assert pod["metadata"]["labels"]["kubernetes.azure.com/managedby"] == "aks"
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    service = store.get(SVC, SYS, "istiod-asm-1-22")
    ports = {(p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {(15010, 15010), (15012, 15012), (443, 15017), (15014, 15014)}
    hpa = store.get(HPA, SYS, "istiod-asm-1-22")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert "discoveryAddress: istiod-asm-1-22.aks-istio-system.svc:15012" in \
        store.get(CM, SYS, "istio-asm-1-22")["data"]["mesh"]
    values = json.loads(store.get(CM, SYS, "istio-sidecar-injector-asm-1-22")["data"]["values"])
    assert values["global"]["proxy"]["image"] == values["global"]["proxy_init"]["image"] == \
        proxy_image("1.22.5")
    mwc = store.get(MWC, "", "istio-sidecar-injector-asm-1-22-aks-istio-system")
    assert mwc["metadata"]["labels"]["admissions.enforcer/disabled"] == "true"
    assert "istio.io/tag" not in mwc["metadata"]["labels"]
    assert [h["name"] for h in mwc["webhooks"]] == ["rev.namespace.sidecar-injector.istio.io",
                                                     "rev.object.sidecar-injector.istio.io"]
    assert all(h["failurePolicy"] == "Fail" and h["clientConfig"]["caBundle"]
               for h in mwc["webhooks"])
    assert store.find(VWC, "", "istio-validator-asm-1-22-aks-istio-system") is not None
    lb = store.get(SVC, ING, "aks-istio-ingressgateway-external")
    assert lb["spec"]["type"] == "LoadBalancer" and "istio.io/rev" not in lb["spec"]["selector"]


def test_adding_the_canary_brings_up_its_istiod_and_gateways(env: SimEnv) -> None:
    shared = env.sim.store.get(SVC, ING, "aks-istio-ingressgateway-external")["metadata"]["uid"]
    env.sim.set_revisions(["asm-1-22", "asm-1-23"])
    wait_for(lambda: control_plane_ready(env, "asm-1-23"), what="canary control plane")
    assert control_plane_ready(env, "asm-1-22")
    assert env.sim.revisions() == ["asm-1-22", "asm-1-23"]
    gateway_pods = pods(env.sim, ING, "aks-istio-ingressgateway-external-asm-1-23-")
    assert len(gateway_pods) == 2
    assert containers(gateway_pods[0]) == {"istio-proxy": proxy_image("1.23.6")}
    service = env.sim.store.get(SVC, ING, "aks-istio-ingressgateway-external")
    assert service["metadata"]["uid"] == shared


def test_completing_removes_every_object_of_the_old_revision(env: SimEnv) -> None:
    env.sim.set_revisions(["asm-1-22", "asm-1-23"])
    wait_for(lambda: control_plane_ready(env, "asm-1-23"), what="canary")
    env.sim.set_revisions(["asm-1-23"])

    def mentions(obj: Obj, revision: str) -> bool:
        return revision in obj["metadata"]["name"] or \
            (obj["metadata"].get("labels") or {}).get("istio.io/rev") == revision

    left = [(rt.kind, o["metadata"]["name"]) for rt in RESOURCE_TYPES
            for o in env.sim.store.list(rt) if mentions(o, "asm-1-22")]
    assert left == []
    assert env.sim.store.find(SVC, ING, "aks-istio-ingressgateway-internal") is not None
    assert control_plane_ready(env, "asm-1-23")


def test_patch_bump_changes_the_injector_image_and_rolls_the_control_plane(env: SimEnv) -> None:
    scenarios.namespace(env.sim, "shop", {"istio.io/rev": "asm-1-22"})
    env.sim.bump_patch("asm-1-22", "1.22.6")
    assert injector_image(env, "asm-1-22") == proxy_image("1.22.6")
    wait_for(lambda: control_plane_ready(env, "asm-1-22") and {
        containers(p)["discovery"] for p in pods(env.sim, SYS, "istiod-")
    } == {pilot_image("1.22.6")}, what="istiod roll")
    wait_for(lambda: {containers(p)["istio-proxy"] for p in pods(env.sim, ING)} == {
        proxy_image("1.22.6")}, what="gateway roll")
    env.sim.create(scenarios.deployment("shop", "web", "contoso/web:1", 1))
    wait_for(lambda: rolled_out(env.sim, "shop", "web"), what="web")
    assert containers(pods(env.sim, "shop", "web-")[0])["istio-proxy"] == proxy_image("1.22.6")
    assert env.sim.catalogue.revisions["asm-1-22"].version == "1.22.6"


def set_hpa(env: SimEnv, name: str, **spec: int) -> None:
    with env.sim.store.lock:
        hpa = env.sim.store.get(HPA, SYS, name)
        env.sim.store.update(HPA, dict(hpa, spec=dict(hpa["spec"], **spec)))


def hpa_range(env: SimEnv, name: str) -> tuple[int, int]:
    spec = env.sim.store.get(HPA, SYS, name)["spec"]
    return spec["minReplicas"], spec["maxReplicas"]


def test_canary_hpa_follows_the_stable_revision(env: SimEnv) -> None:
    set_hpa(env, "istiod-asm-1-22", minReplicas=3, maxReplicas=7)  # before the upgrade starts
    env.sim.set_revisions(["asm-1-22", "asm-1-23"])
    assert hpa_range(env, "istiod-asm-1-23") == (3, 7)
    set_hpa(env, "istiod-asm-1-23", minReplicas=1, maxReplicas=2)  # canary edit: reverted
    wait_for(lambda: hpa_range(env, "istiod-asm-1-23") == (3, 7), what="revert")
    set_hpa(env, "istiod-asm-1-22", minReplicas=4, maxReplicas=8)  # stable edit: mirrored
    wait_for(lambda: hpa_range(env, "istiod-asm-1-23") == (4, 8), what="mirror")
    wait_for(lambda: env.sim.store.get(DEPLOYMENT, SYS, "istiod-asm-1-23")["spec"]["replicas"] == 4,
             what="HPA scales istiod to its minimum")


def test_control_routes_drive_revisions_patches_and_faults(env: SimEnv) -> None:
    assert control(env, "PUT", "/_sim/kube/revisions", {"revisions": ["asm-1-22", "asm-1-23"]}) == (
        200, {"revisions": ["asm-1-22", "asm-1-23"], "ingress": ["external", "internal"]})
    patch = "/_sim/kube/revisions/{}/patch"
    assert control(env, "POST", patch.format("asm-1-23"), {"version": "1.23.7"})[0] == 200
    assert injector_image(env, "asm-1-23") == proxy_image("1.23.7")
    assert control(env, "POST", patch.format("asm-1-19"), {"version": "1.19.1"})[0] == 404
    assert control(env, "POST", "/_sim/kube/faults/crashloop", {"revision": "asm-1-23"})[0] == 201
    assert control(env, "POST", "/_sim/kube/faults/explode", {"revision": "asm-1-23"})[0] == 400
    assert control(env, "GET", "/_sim/kube/faults") == (
        200, {"never-ready": [], "crashloop": ["asm-1-23"]})
    assert control(env, "DELETE", "/_sim/kube/faults")[1] == {"never-ready": [], "crashloop": []}
    assert control(env, "GET", "/_sim/kube/admission-warnings") == (200, [])
    assert control(env, "PUT", "/_sim/kube/revisions", {"revisions": [], "ingress": []})[0] == 200
    assert env.sim.store.find(by_kind("Namespace"), "", SYS) is None  # add-on disabled
    assert env.sim.store.list(DEPLOYMENT, SYS) == [] and env.sim.store.list(MWC) == []
