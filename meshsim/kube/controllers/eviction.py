"""The kubelet's eviction manager under node pressure (pkg/kubelet/eviction): the pod is
killed at once (a hard threshold, grace period 0) and its status set to Failed, reason Evicted,
with the manager's message and a DisruptionTarget condition (TerminationByKubelet). Its
containers are reported as a kubelet that found them already removed reports them:
`ContainerStatusUnknown`, exit code 137 (kubernetes#122160 shows the shape).

The pod object stays: only the pod garbage collector removes finished pods, past
kube-controller-manager's --terminated-pod-gc-threshold (12500), which no simulated cluster
reaches. Its owner replaces it: a ReplicaSet no longer counts it, a StatefulSet and a DaemonSet
delete it and create a new one.
"""

from __future__ import annotations

import hashlib

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import POD
from meshsim.kube.controllers.containers import PROXY, is_sidecar
from meshsim.kube.controllers.podstatus import cond, image_id, node_ip, pod_ip
from meshsim.kube.store import APIError, Obj, Store

# AKS kubelet defaults: --eviction-hard=memory.available<750Mi,nodefs.available<10%,...
THRESHOLDS = {"memory": "750Mi", "ephemeral-storage": "10%"}
GONE = "The container could not be located when the pod was terminated"
GONE_BEFORE = ("The container could not be located when the pod was deleted.  The container "
               "used to be Running")


def eviction_message(pod: Obj, resource: str) -> str:
    """evictionMessage: the node's shortage, then the container using more than it asked."""
    digest = hashlib.blake2s(pod["metadata"]["name"].encode(), digest_size=4).digest()
    available = 600_000 + int.from_bytes(digest[:2], "big") % 150_000
    usage = 900_000 + int.from_bytes(digest[2:], "big") * 16
    app: Obj = next((c for c in pod["spec"].get("containers") or () if c["name"] != PROXY),
                    {"name": "app"})
    request = ((app.get("resources") or {}).get("requests") or {}).get(resource, "0")
    return (f"The node was low on resource: {resource}. Threshold quantity: "
            f"{THRESHOLDS.get(resource, '10%')}, available: {available}Ki. Container "
            f"{app['name']} was using {usage}Ki, request is {request}, has larger consumption "
            f"of {resource}. ")


def evicted_status(pod: Obj, clock: SimClock, resource: str) -> Obj:
    old, now = pod.get("status") or {}, clock.rfc3339()
    message = eviction_message(pod, resource)
    start = old.get("startTime") or now
    status: Obj = {
        "phase": "Failed", "reason": "Evicted", "message": message,
        "conditions": [cond("DisruptionTarget", True, now, "TerminationByKubelet", message),
                       cond("PodReadyToStartContainers", False, now),
                       cond("Initialized", True, start), cond("Ready", False, now, "PodFailed"),
                       cond("ContainersReady", False, now, "PodFailed"),
                       cond("PodScheduled", True, start)],
        "hostIP": node_ip(pod), "hostIPs": [{"ip": node_ip(pod)}], "podIP": pod_ip(pod),
        "podIPs": [{"ip": pod_ip(pod)}], "startTime": start,
        "qosClass": old.get("qosClass", "BestEffort"),
        "containerStatuses": [_gone(c, old, "containerStatuses")
                              for c in pod["spec"].get("containers") or ()]}
    inits = pod["spec"].get("initContainers") or ()
    if inits:
        status["initContainerStatuses"] = [
            _gone(c, old, "initContainerStatuses") if is_sidecar(c) else
            _kept(c, old) for c in inits]
    return status


def _previous(container: Obj, old: Obj, key: str) -> Obj:
    return next((s for s in old.get(key) or () if s.get("name") == container["name"]), {})


def _gone(container: Obj, old: Obj, key: str) -> Obj:
    prev = _previous(container, old, key)
    unknown = {"exitCode": 137, "reason": "ContainerStatusUnknown", "startedAt": None,
               "finishedAt": None}
    return {"name": container["name"], "state": {"terminated": {**unknown, "message": GONE}},
            "lastState": {"terminated": {**unknown, "message": GONE_BEFORE}}, "ready": False,
            "restartCount": int(prev.get("restartCount", 0)) + 1,
            "image": container.get("image", ""), "imageID": "", "started": False}


def _kept(container: Obj, old: Obj) -> Obj:
    """A regular init container had finished long before: its status stays."""
    prev = _previous(container, old, "initContainerStatuses")
    return prev or {"name": container["name"], "state": {"terminated": {
        "exitCode": 0, "reason": "Completed"}}, "lastState": {}, "ready": True,
        "restartCount": 0, "image": container.get("image", ""),
        "imageID": image_id(container.get("image", "")), "started": False}


def evict_pod(store: Store, clock: SimClock, namespace: str, name: str,
              resource: str = "memory") -> Obj:
    """Evict a running pod as the kubelet does under `resource` pressure; the pod written."""
    with store.lock:
        pod = store.get(POD, namespace, name)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise APIError(409, "Conflict", f'pod "{name}" has already finished ({phase}); '
                           "the eviction manager only evicts running pods")
        return store.update(POD, dict(pod, status=evicted_status(pod, clock, resource)),
                            status_only=True)
