"""A simulated AKS cluster (meshsim `KubeSim`) on a free port, and the bot's Kubernetes adapter
pointed at it through a real `kubernetes` ApiClient built from the kubeconfig it writes.

Shared by the `test_cluster_*` modules. Time runs fast (`SPEED`) so rollouts finish quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kubernetes import client, config

from bot.kube.cluster import Cluster
from meshsim.clock import SimClock
from meshsim.kube.cluster import KubeSim
from meshsim.kube.scenarios import bookinfo
from meshsim.runtime import SimLoop
from meshsim.slack import testing as slack_testing

SPEED = 50.0
OWN_NAMESPACE = "mesh-bot"
STABLE, CANARY = "asm-1-22", "asm-1-23"
T = TypeVar("T")


@dataclass
class SimCluster:
    sim: KubeSim
    simloop: SimLoop
    api: client.ApiClient
    cluster: Cluster

    def requests(self, **match: str) -> int:
        return len(self.sim.request_log.records(**match))

    def labels(self, namespace: str) -> dict[str, str]:
        ns = self.cluster.io.raw("get", "namespaces", self.cluster.namespaces.core.read_namespace,
                                 namespace)
        return dict(ns["metadata"].get("labels") or {})

    def pod_names(self, namespace: str) -> set[str]:
        pods = self.cluster.io.raw("list", "pods", self.cluster.census.core.list_namespaced_pod,
                                   namespace)
        return {p["metadata"]["name"] for p in pods["items"]}

    def start_canary(self) -> None:
        """`az aks mesh upgrade start --revision asm-1-23`, then wait for it to be Ready."""
        self.sim.set_revisions([STABLE, CANARY])
        wait_for(lambda: self.cluster.control_plane.status(CANARY).ready, "canary control plane")


@contextmanager
def running(tmp_path: Path, scenario: Callable[[KubeSim], None] = bookinfo,
            speed: float = SPEED) -> Iterator[SimCluster]:
    simloop = SimLoop()
    sim = KubeSim(SimClock(speed))
    try:
        scenario(sim)
        sim.start(simloop)
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration)
        api = client.ApiClient(configuration)
        try:
            yield SimCluster(sim, simloop, api, Cluster.from_api_client(api, OWN_NAMESPACE))
        finally:
            api.close()  # type: ignore[no-untyped-call]
    finally:
        sim.stop()
        simloop.close()


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll `check` until it returns something truthy (real seconds)."""
    result: T = slack_testing.wait_for(check, timeout, what, interval=0.05)
    return result
