"""Event-to-work-key mapping and the sync table of the simulated controllers."""

from __future__ import annotations

import random
from collections.abc import Callable

from meshsim.clock import SimClock
from meshsim.kube import discovery
from meshsim.kube.controllers.base import controller_of
from meshsim.kube.controllers.cronjobs import CronJobController
from meshsim.kube.controllers.daemonsets import DaemonSetController
from meshsim.kube.controllers.deployments import DeploymentController
from meshsim.kube.controllers.gc import collect
from meshsim.kube.controllers.hpa import HPAController
from meshsim.kube.controllers.jobs import JobController
from meshsim.kube.controllers.pods import Kubelet, PodFaults
from meshsim.kube.controllers.replicasets import ReplicaSetController
from meshsim.kube.controllers.statefulsets import StatefulSetController
from meshsim.kube.store import Obj, Store

WorkKey = tuple[str, str, str]
WATCHED_KINDS = ("Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job",
                 "CronJob", "HorizontalPodAutoscaler")
_OWN_KEY = {"Pod": "pod", "ReplicaSet": "replicaset", "Deployment": "deployment",
            "StatefulSet": "statefulset", "DaemonSet": "daemonset", "Job": "job",
            "CronJob": "cronjob", "HorizontalPodAutoscaler": "hpa"}
# Syncs whose requeue means "try again" (a refused create), not "look again at time T".
RETRYING = frozenset({"replicaset", "statefulset", "daemonset"})


class Controllers:
    def __init__(self, store: Store, clock: SimClock, faults: PodFaults | None = None,
                 seed: int = 0, start_delay: float = 2.0, minor: int | None = None) -> None:
        """`minor`: the Kubernetes minor whose controllers to model (default: the one served);
        the `minor` attribute may be changed later, as when a cluster is upgraded."""
        rng = random.Random(seed)
        self.minor = discovery.server_minor() if minor is None else minor
        self.store, self.clock = store, clock
        self.faults = faults or PodFaults()
        self.kubelet = Kubelet(store, clock, self.faults, rng, start_delay)
        hpa = HPAController(store, clock)
        self._syncs: dict[str, Callable[[str, str, bool], float | None]] = {
            "pod": self.kubelet.sync,
            "replicaset": ReplicaSetController(store, clock, rng).sync,
            "deployment": DeploymentController(store, clock).sync,
            "statefulset": StatefulSetController(store, clock).sync,
            "daemonset": DaemonSetController(store, clock, rng).sync,
            "job": JobController(store, clock, rng, lambda: self.minor).sync,
            "cronjob": CronJobController(store, clock, lambda: self.minor).sync,
            "hpa": hpa.sync, "hpa-target": hpa.sync_target, "gc": self._collect}

    def keys_for(self, kind: str, event: str, obj: Obj) -> list[WorkKey]:
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        keys: list[WorkKey] = [(_OWN_KEY[kind], ns, meta["name"])]
        owner = controller_of(obj)
        if owner is not None and owner.get("kind") in _OWN_KEY:
            keys.append((_OWN_KEY[owner["kind"]], ns, owner["name"]))
        if kind == "Deployment":
            keys.append(("hpa-target", ns, meta["name"]))
        if event == "DELETED" and kind != "Pod":
            keys.append(("gc", ns, meta["uid"]))
        return keys

    def sync(self, key: WorkKey, instant: bool = False) -> float | None:
        controller, namespace, name = key
        return self._syncs[controller](namespace, name, instant)

    def _collect(self, namespace: str, uid: str, instant: bool = False) -> float | None:
        collect(self.store, namespace, uid)
        return None
