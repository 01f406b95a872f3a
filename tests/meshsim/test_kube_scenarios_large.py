"""`scenarios.large`: 20,000 injected pods in 2,000 namespaces, on two revisions, a tag and
two patch versions of asm-1-22, built quickly and shaped like controller-made pods."""

from __future__ import annotations

import json
from collections import Counter

from meshsim.clock import SimClock
from meshsim.kube import scenarios
from meshsim.kube.addon_objects import proxy_image
from meshsim.kube.cluster import KubeSim
from meshsim.kube.controllers.base import pod_ready
from tests.meshsim.kubesim_env import POD, containers, rolled_out


def test_large_builds_20000_pods_with_mixed_revisions_and_patches() -> None:
    sim = KubeSim(SimClock(speed=20))
    scenarios.large(sim)
    app_pods = [p for p in sim.store.list(POD) if p["metadata"]["namespace"].startswith("team-")]
    assert len(app_pods) == 20_000
    assert len({p["metadata"]["namespace"] for p in app_pods}) == 2_000
    proxies = Counter(containers(p).get("istio-proxy", "-") for p in app_pods)
    assert proxies == {proxy_image("1.22.4"): 6_000, proxy_image("1.22.5"): 6_000,
                       proxy_image("1.23.6"): 6_000, "-": 2_000}
    revisions = Counter(json.loads(p["metadata"]["annotations"]["sidecar.istio.io/status"])[
        "revision"] for p in app_pods if "istio-proxy" in containers(p))
    assert revisions == {"asm-1-22": 12_000, "asm-1-23": 6_000}
    sample = app_pods[::997]
    assert all(pod_ready(p) and p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
               and p["status"]["containerStatuses"][0]["imageID"] for p in sample)
    assert all(rolled_out(sim, f"team-{i:04d}", "api") for i in range(0, 2000, 181))
    assert sim.revisions() == ["asm-1-22", "asm-1-23"]
