"""Native sidecars by AKS's rule (azure-aks-docs istio-native-sidecar.md @ 1c27d13): the add-on
renders each revision's istiod with ENABLE_NATIVE_SIDECARS from the cluster's Kubernetes
version and whether the revision came by install or by upgrade, and istiod's injector puts
`istio-proxy` into `initContainers` (restartPolicy: Always) when it is on. A canary can cross
the switch: old pods classic, new pods native.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest

from meshsim.catalogue import Catalogue, NativeSidecars, default_catalogue
from meshsim.clock import SimClock
from meshsim.kube import scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.cluster import KubeSim
from meshsim.kube.inject import istiod_native
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj
from meshsim.kube.tags import tag_webhook
from tests.meshsim.kubesim_env import (
    DEPLOYMENT,
    POD,
    SimEnv,
    label_namespace,
    pods,
    restart,
    started,
)

# asm-1-29 has reached AKS; asm-1-27, asm-1-28 and asm-1-29 are supported, asm-1-26 is not.
DAY = date(2026, 4, 28)
MWC = by_kind("MutatingWebhookConfiguration")


def cluster(kubernetes: str = "1.33.2", catalogue: Catalogue | None = None) -> KubeSim:
    return KubeSim(SimClock(speed=20), catalogue or default_catalogue(DAY),
                   kubernetes_version=kubernetes)


def istiod_setting(sim: KubeSim, revision: str) -> str | None:
    """The AKS doc's check: ENABLE_NATIVE_SIDECARS in istiod's pod template."""
    deployment = sim.store.get(DEPLOYMENT, "aks-istio-system", f"istiod-{revision}")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return next((e["value"] for e in env if e["name"] == "ENABLE_NATIVE_SIDECARS"), None)


def mode(pod: Obj) -> str:
    """Where the pod runs istio-proxy."""
    spec = pod["spec"]
    inits = {c["name"]: c for c in spec.get("initContainers") or ()}
    if "istio-proxy" in inits:
        assert inits["istio-proxy"]["restartPolicy"] == "Always"
        assert "istio-proxy" not in {c["name"] for c in spec["containers"]}
        return "native"
    return "classic" if "istio-proxy" in {c["name"] for c in spec["containers"]} else "none"


def make_pod(sim: KubeSim, namespace: str, revision: str, notes: dict[str, str] | None = None,
             name: str = "app") -> Obj:
    if sim.store.find(by_kind("Namespace"), "", namespace) is None:
        scenarios.namespace(sim, namespace, {"istio.io/rev": revision})
    body = {"metadata": {"name": name, "labels": {"app": "app"}, "annotations": notes or {}},
            "spec": {"containers": [{"name": "app", "image": "contoso/app:1"}]}}
    return sim.store.create(POD, body, namespace)


@pytest.mark.parametrize(("kubernetes", "revision", "by_upgrade", "setting", "expected"), [
    ("1.32.5", "asm-1-29", False, "false", "classic"),  # below 1.33: never
    ("1.33.2", "asm-1-26", False, None, "classic"),  # below asm-1-27: never
    ("1.33.2", "asm-1-27", False, "true", "native"),  # transition release, fresh install
    ("1.33.2", "asm-1-27", True, "false", "classic"),  # ... reached by an upgrade
    ("1.33.2", "asm-1-28", True, "false", "classic"),  # a transition release too
    ("1.33.2", "asm-1-28", False, "true", "native"),
    ("1.33.2", "asm-1-29", True, "true", "native"),  # install or upgrade
])
def test_istiod_and_its_pods_follow_the_aks_rule(
        kubernetes: str, revision: str, by_upgrade: bool, setting: str | None,
        expected: str) -> None:
    sim = cluster(kubernetes)
    with sim.settled():
        sim.set_revisions([revision], by_upgrade=by_upgrade)
    assert istiod_setting(sim, revision) == setting
    assert mode(make_pod(sim, "shop", revision)) == expected


def test_native_pod_lists_istio_proxy_as_an_init_container_after_istio_init() -> None:
    sim = cluster()
    with sim.settled():
        sim.set_revisions(["asm-1-29"])
    pod = make_pod(sim, "shop", "asm-1-29")
    inits = pod["spec"]["initContainers"]
    assert [(c["name"], c["image"]) for c in inits] == [
        ("istio-init", proxy_image("1.29.5")), ("istio-proxy", proxy_image("1.29.5"))]
    assert inits[1]["lifecycle"]["preStop"]["exec"]["command"][-2:] == ["POST", "drain"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app"]
    status = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    assert status["initContainers"] == ["istio-init", "istio-proxy"]
    assert status["containers"] is None and status["revision"] == "asm-1-29"
    assert status["volumes"][-2:] == ["istiod-ca-cert", "istio-ca-crl"]
    assert pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "app"


def test_pod_annotation_overrides_istiod_both_ways() -> None:
    sim = cluster()
    with sim.settled():
        sim.set_revisions(["asm-1-27"], by_upgrade=True)  # classic
        sim.set_revisions(["asm-1-27", "asm-1-29"])  # native
    opt_in = make_pod(sim, "old", "asm-1-27", {"sidecar.istio.io/nativeSidecar": "true"})
    opt_out = make_pod(sim, "new", "asm-1-29", {"sidecar.istio.io/nativeSidecar": "false"})
    assert (mode(opt_in), mode(opt_out)) == ("native", "classic")


def test_brownfield_canary_crosses_the_switch_old_pods_classic_new_pods_native(
        tmp_path: Path) -> None:
    with started(tmp_path) as env:
        env.sim.catalogue, env.sim.kubernetes_version = default_catalogue(DAY), "1.33.2"
        with env.sim.settled():
            env.sim.set_revisions(["asm-1-27"], by_upgrade=True)  # came from asm-1-26
            scenarios.namespace(env.sim, "shop", {"istio.io/rev": "asm-1-27"})
            env.sim.create(scenarios.deployment("shop", "web", "contoso/web:1", 2))
        before = columns(env)
        with env.sim.settled():
            env.sim.set_revisions(["asm-1-27", "asm-1-29"])  # az aks mesh upgrade start
        label_namespace(env.sim, "shop", {"istio.io/rev": "asm-1-29"})
        with env.sim.settled():
            restart(env.sim, "shop", "web")
        after = columns(env)
        settings = istiod_settings(env)
    assert set(before.values()) == {("istio-init", "web,istio-proxy")}
    assert set(after.values()) == {("istio-init,istio-proxy", "web")}
    assert not set(before) & set(after)
    assert settings == {"asm-1-27": "false", "asm-1-29": "true"}


def columns(env: SimEnv) -> dict[str, tuple[str, str]]:
    """The AKS doc's check, `kubectl get pods -o custom-columns=NAME,INIT,CONTAINERS`."""
    out = env.kubectl("get", "pods", "-n", "shop", "--no-headers", "-o",
                      "custom-columns=NAME:.metadata.name,INIT:.spec.initContainers[*].name,"
                      "CONTAINERS:.spec.containers[*].name").stdout
    return {name: (inits, names) for name, inits, names in
            (line.split() for line in out.splitlines())}


def istiod_settings(env: SimEnv) -> dict[str, str]:
    """The AKS doc's other check: ENABLE_NATIVE_SIDECARS of `kubectl get deploy -l app=istiod`."""
    got = json.loads(env.kubectl("get", "deployment", "-l", "app=istiod", "-n",
                                 "aks-istio-system", "-o", "json").stdout)
    return {d["metadata"]["labels"]["istio.io/rev"]: e["value"] for d in got["items"]
            for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
            if e["name"] == "ENABLE_NATIVE_SIDECARS"}


def test_a_catalogue_on_the_older_rule_makes_asm_1_28_native_by_upgrade() -> None:
    """The 2025 text of the AKS article had asm-1-28 native on upgrades too."""
    catalogue = default_catalogue(DAY)
    catalogue.revisions["asm-1-28"] = dataclasses.replace(
        catalogue.revisions["asm-1-28"], native_sidecars=NativeSidecars.ALWAYS)
    sim = cluster(catalogue=catalogue)
    with sim.settled():
        sim.set_revisions(["asm-1-27"], by_upgrade=True)
    old = make_pod(sim, "shop", "asm-1-27")
    with sim.settled():
        sim.set_revisions(["asm-1-27", "asm-1-28"])
    assert (mode(old), mode(make_pod(sim, "next", "asm-1-28"))) == ("classic", "native")


def test_cluster_upgrade_to_1_33_turns_native_on_only_where_aks_follows_upgrades() -> None:
    sim = cluster("1.32.5")
    with sim.settled():
        sim.set_revisions(["asm-1-28", "asm-1-29"])
    with sim.settled():
        sim.set_kubernetes_version("1.33.2")
    assert (istiod_setting(sim, "asm-1-28"), istiod_setting(sim, "asm-1-29")) == ("false", "true")
    istiods = [p for p in pods(sim, "aks-istio-system", "istiod-asm-1-29-")]
    assert istiods and all(
        {"name": "ENABLE_NATIVE_SIDECARS", "value": "true"} in p["spec"]["containers"][0]["env"]
        for p in istiods)  # istiod rolled onto the new setting
    assert mode(make_pod(sim, "a", "asm-1-28")) == "classic"
    assert mode(make_pod(sim, "b", "asm-1-29")) == "native"


def test_preview_flag_keeps_native_sidecars_whatever_the_version() -> None:
    sim = cluster("1.30.6")
    sim.native_sidecar_preview = True
    with sim.settled():
        sim.set_revisions(["asm-1-27"])
    assert istiod_setting(sim, "asm-1-27") == "true"
    assert mode(make_pod(sim, "shop", "asm-1-27")) == "native"


def test_istiod_reads_an_unset_switch_as_auto_from_1_27_and_as_off_before() -> None:
    assert istiod_native(None, 27, "1.33.2") and not istiod_native(None, 27, "1.32.9")
    assert not istiod_native(None, 26, "1.33.2") and istiod_native("true", 26, "1.30.0")
    assert not istiod_native("false", 29, "1.34.0")


@pytest.mark.parametrize(("duplicate", "revision", "expected"), [
    ("aaa-native-first", "asm-1-26", "classic"),  # asm-1-27 (native) ran first
    ("zzz-native-last", "asm-1-27", "native"),
])
def test_overlapping_webhooks_run_in_name_order_each_on_the_last_output(
        duplicate: str, revision: str, expected: str) -> None:
    sim = cluster()
    with sim.settled():
        sim.set_revisions(["asm-1-27"])  # fresh install on 1.33: native
        sim.set_revisions(["asm-1-26", "asm-1-27"])  # asm-1-26: classic
        scenarios.set_tag(sim, "prod-stable", "asm-1-26")
    canonical = sim.store.get(MWC, "", "istio-sidecar-injector-asm-1-27-aks-istio-system")
    extra = tag_webhook(canonical, "prod-stable")
    extra["metadata"]["name"] = duplicate
    sim.store.create(MWC, extra)
    pod = make_pod(sim, "frontend", "prod-stable")
    status = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    assert (status["revision"], mode(pod)) == (revision, expected)
    names = [c["name"] for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]]
    assert names.count("istio-proxy") == 1 and names.count("istio-init") == 1
    # stripPod keeps volumes: asm-1-27's istio-ca-crl survives asm-1-26 re-injecting after it
    assert "istio-ca-crl" in {v["name"] for v in pod["spec"]["volumes"]}
    assert len(sim.admission_warnings[-1]["webhooks"]) == 2


def test_completing_the_canary_keeps_the_setting_the_upgrade_gave() -> None:
    sim = cluster()
    with sim.settled():
        sim.set_revisions(["asm-1-27"], by_upgrade=True)
        sim.set_revisions(["asm-1-27", "asm-1-28"])  # a transition release: classic on upgrade
        sim.set_revisions(["asm-1-28"])  # az aks mesh upgrade complete
    assert sim.revisions() == ["asm-1-28"] and istiod_setting(sim, "asm-1-28") == "false"
    assert mode(make_pod(sim, "shop", "asm-1-28")) == "classic"
