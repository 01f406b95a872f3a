"""A started KubeSim (API server on a free port, controllers on a SimLoop) for the
`test_kube_istio_*`, `test_kube_rollout_*` and `test_kube_scenarios_*` modules, with real
kubectl (own kubeconfig and discovery cache) and the real `kubernetes` client pointed at it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from meshsim.clock import SimClock
from meshsim.kube.cluster import KubeSim
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj
from meshsim.runtime import SimLoop

KUBECTL = "/usr/bin/kubectl"
POD, DEPLOYMENT, NAMESPACE = by_kind("Pod"), by_kind("Deployment"), by_kind("Namespace")
SPEED = 20.0


@dataclass
class SimEnv:
    sim: KubeSim
    kubeconfig: Path
    cache_dir: Path

    def kubectl(self, *args: str, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        done = subprocess.run([KUBECTL, "--cache-dir", str(self.cache_dir), *args],
                              capture_output=True, text=True, env=env, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done

    def shell(self, pipeline: str) -> str:
        """A shell pipeline whose `kubectl` is ours (for the seed's `| sort | grep`)."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        cmd = f"kubectl() {{ {KUBECTL} --cache-dir {self.cache_dir} \"$@\"; }}; {pipeline}"
        done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env,
                              timeout=60)
        return done.stdout

    def api(self) -> client.ApiClient:
        config = client.Configuration()
        config.host = self.sim.url
        config.api_key = {"authorization": "Bearer meshsim-token"}
        return client.ApiClient(config)


@contextmanager
def started(tmp_path: Path, speed: float = SPEED) -> Iterator[SimEnv]:
    loop = SimLoop()
    sim = KubeSim(SimClock(speed=speed))
    try:
        sim.start(loop)
        yield SimEnv(sim, sim.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path / "kube-cache")
    finally:
        sim.stop()
        loop.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def pods(sim: KubeSim, namespace: str, prefix: str = "") -> list[Obj]:
    return [p for p in sim.store.list(POD, namespace) if p["metadata"]["name"].startswith(prefix)]


def containers(pod: Obj) -> dict[str, str]:
    return {c["name"]: c["image"] for c in pod["spec"]["containers"]}


def rolled_out(sim: KubeSim, namespace: str, name: str) -> bool:
    """`kubectl rollout status`'s rule for a Deployment (istio-kube.md §5)."""
    d = sim.store.get(DEPLOYMENT, namespace, name)
    status, want = d.get("status") or {}, d["spec"]["replicas"]
    return bool(d["metadata"]["generation"] <= status.get("observedGeneration", 0)
                and status.get("updatedReplicas", 0) == want
                and status.get("replicas", 0) == want
                and status.get("availableReplicas", 0) == want)


def restart(sim: KubeSim, namespace: str, name: str, stamp: str = "2026-01-01T00:00:00Z",
            kind: str = "Deployment") -> None:
    """What `kubectl rollout restart` changes (a template annotation)."""
    rt = by_kind(kind)
    with sim.store.lock:
        obj = sim.store.get(rt, namespace, name)
        template = dict(obj["spec"]["template"])
        meta = dict(template.get("metadata") or {})
        meta["annotations"] = {**(meta.get("annotations") or {}),
                               "kubectl.kubernetes.io/restartedAt": stamp}
        template["metadata"] = meta
        sim.store.update(rt, dict(obj, spec=dict(obj["spec"], template=template)))


def label_namespace(sim: KubeSim, name: str, labels: dict[str, str | None]) -> None:
    with sim.store.lock:
        ns = sim.store.get(NAMESPACE, "", name)
        merged = {**(ns["metadata"].get("labels") or {}), **labels}
        meta = dict(ns["metadata"], labels={k: v for k, v in merged.items() if v is not None})
        sim.store.update(NAMESPACE, dict(ns, metadata=meta))
