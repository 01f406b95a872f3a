"""`MeshSim`: every simulator of a scenario started together and wired to each other.

One SimLoop hosts each cluster's Kubernetes API server, the ARM endpoint (HTTPS, trustme CA)
and the Slack workspace. ARM's operations call into the clusters when they end, so a revision
change made through azure-mgmt-containerservice shows up as control-plane objects in the
cluster. `describe()` is the JSON line `python -m meshsim serve` prints; `parts` serves only the
clusters with ARM ("cloud") or only Slack.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshsim.arm import ArmSim
from meshsim.clock import SimClock
from meshsim.kube import scenarios
from meshsim.kube.cluster import KubeSim
from meshsim.runtime import SimLoop
from meshsim.slack import seed
from meshsim.slack.sim import SlackSim

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a115"
RESOURCE_GROUP = "rg-mesh"
LOCATION = "westeurope"

Populate = Callable[[KubeSim, str], None]
# What a MeshSim serves: the clusters with ARM (wired to each other), and Slack. A benchmark
# serves them from two processes, so that census pages do not share a loop with Slack's acks.
CLOUD, SLACK = "cloud", "slack"
PARTS = frozenset({CLOUD, SLACK})


@dataclass(frozen=True)
class ClusterSeed:
    name: str
    revision: str
    kubernetes_version: str
    populate: Populate


def _bookinfo(kube: KubeSim, revision: str) -> None:
    scenarios.bookinfo(kube)


def _large(kube: KubeSim, revision: str) -> None:
    scenarios.large(kube)


def _shop(kube: KubeSim, revision: str) -> None:
    """A small second cluster: one injected namespace with two deployments on `revision`."""
    with kube.settled():
        scenarios.namespace(kube, "default")
        kube.set_revisions([revision], ("external",))
        scenarios.namespace(kube, "shop", {scenarios.REV: revision})
        for name in ("cart", "checkout"):
            kube.create(scenarios.deployment("shop", name, f"contoso.azurecr.io/{name}:1.0.0", 2))


SCENARIOS: dict[str, tuple[ClusterSeed, ...]] = {
    "bookinfo": (ClusterSeed("aks-sandbox", "asm-1-22", "1.30.6", _bookinfo),),
    "fleet": (
        ClusterSeed("aks-sandbox", "asm-1-22", "1.30.6", _bookinfo),
        ClusterSeed("aks-east", "asm-1-23", "1.31.4", _shop),
        # An unsupported revision: its only way forward is the lowest supported one.
        ClusterSeed("aks-legacy", "asm-1-21", "1.29.9", _shop),
    ),
    "large": (ClusterSeed("aks-sandbox", "asm-1-22", "1.30.6", _large),),
}


class MeshSim:
    """Start with `start()`, stop with `close()`; also a context manager."""

    def __init__(self, scenario: str = "bookinfo", speed: float = 1.0,
                 workdir: str | Path | None = None, operation_seconds: float = 30.0,
                 slack_port: int = 0, parts: frozenset[str] = PARTS) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        if not parts or parts - PARTS:
            raise ValueError(f"parts must be some of {', '.join(sorted(PARTS))}")
        self.scenario = scenario
        self.parts = parts
        self.clock = SimClock(speed)
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="meshsim-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.loop: SimLoop | None = None
        self.clusters: dict[str, KubeSim] = {}
        self.arm = ArmSim(self.clock, operation_seconds=operation_seconds)
        self.slack = SlackSim(self.clock)
        self.slack_port = slack_port  # 0: a free port
        self.kubeconfig = self.workdir / "kubeconfig"

    def __enter__(self) -> MeshSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> dict[str, Any]:
        self.loop = SimLoop()
        if CLOUD in self.parts:
            for cluster in SCENARIOS[self.scenario]:
                self._start_cluster(self.loop, cluster)
            self.arm.serve(self.loop, self.workdir / "tls")
            self._write_kubeconfig()
        if SLACK in self.parts:
            self.slack.serve(self.loop, self.slack_port)
        return self.describe()

    def _start_cluster(self, loop: SimLoop, seed_: ClusterSeed) -> None:
        kube = KubeSim(self.clock, catalogue=self.arm.catalogue)
        seed_.populate(kube, seed_.revision)
        kube.kubernetes_version = seed_.kubernetes_version
        kube.start(loop)
        self.clusters[seed_.name] = kube
        self.arm.add_cluster(SUBSCRIPTION, RESOURCE_GROUP, seed_.name, location=LOCATION,
                             kubernetes_version=seed_.kubernetes_version,
                             revisions=kube.revisions(), kube_server_url=kube.url,
                             on_revisions=kube.set_revisions, on_patch=kube.bump_patch)

    def _write_kubeconfig(self) -> None:
        """One kubeconfig with a context per cluster, named after the cluster."""
        docs = []
        for name, kube in self.clusters.items():
            path = kube.write_kubeconfig(self.workdir / f"kubeconfig-{name}", context=name)
            docs.append(yaml.safe_load(path.read_text()))
        merged = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                  "current-context": next(iter(self.clusters)),
                  "clusters": [c for d in docs for c in d["clusters"]],
                  "users": [u for d in docs for u in d["users"]],
                  "contexts": [c for d in docs for c in d["contexts"]]}
        self.kubeconfig.write_text(yaml.safe_dump(merged, sort_keys=False))

    def describe(self) -> dict[str, Any]:
        """Endpoints of the parts served (all of them unless `parts` said otherwise)."""
        cloud = CLOUD in self.parts
        out: dict[str, Any] = {"scenario": self.scenario, "speed": self.clock.speed}
        if cloud:
            out["kubeconfig"] = str(self.kubeconfig)
            out["arm"] = {"url": self.arm.base_url, "ca_file": str(self.arm.ca_path)}
        if SLACK in self.parts:
            out["slack"] = {"url": self.slack.base_url, "api_url": self.slack.api_url,
                            "page": f"{self.slack.base_url}/", **seed.tokens()}
        if cloud:
            out["clusters"] = [{"name": name, "kube_url": kube.url, "context": name,
                                "kubeconfig": str(self.workdir / f"kubeconfig-{name}"),
                                "subscription_id": SUBSCRIPTION,
                                "resource_group": RESOURCE_GROUP, "location": LOCATION,
                                "revisions": kube.revisions()}
                               for name, kube in self.clusters.items()]
        return out

    def close(self) -> None:
        if self.loop is not None:
            for kube in self.clusters.values():
                kube.stop()
            self.loop.close()
            self.loop = None
        if self._tmp is not None:
            self._tmp.cleanup()
