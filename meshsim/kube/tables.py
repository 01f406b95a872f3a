"""Server-side printing: `meta.k8s.io/v1` Tables for kubectl's human-readable `get`.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the cells as
given, so the columns (READY, STATUS, AGE, ...) are computed here, as the real server's
printers do. Rows carry PartialObjectMetadata unless `includeObject=Object` is asked.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

from meshsim.kube.resources import ResourceType
from meshsim.kube.store import Obj

Cell = Callable[[Obj], Any]
Column = tuple[str, str, Cell, int]  # name, type, getter, priority (1 = only with -o wide)


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def _get(obj: Obj, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def _pod_ready(pod: Obj) -> str:
    statuses = _get(pod, "status", "containerStatuses", default=[]) or []
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(_get(pod, 'spec', 'containers', default=[]) or [])}"


def _pod_status(pod: Obj) -> str:
    if _get(pod, "metadata", "deletionTimestamp"):
        return "Terminating"
    for status in _get(pod, "status", "containerStatuses", default=[]) or []:
        reason = _get(status, "state", "waiting", "reason")
        if reason:
            return str(reason)
    return str(_get(pod, "status", "reason") or _get(pod, "status", "phase") or "Pending")


def _restarts(pod: Obj) -> int:
    statuses = _get(pod, "status", "containerStatuses", default=[]) or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def _ratio(ready: str, total: str) -> Cell:
    path = total.split(".")
    return lambda o: f"{_get(o, 'status', ready, default=0)}/{_get(o, *path, default=0)}"


def _status(field: str) -> Cell:
    return lambda o: _get(o, "status", field, default=0)


def _images(obj: Obj) -> str:
    containers = _get(obj, "spec", "template", "spec", "containers", default=[]) or []
    return ",".join(str(c.get("image", "")) for c in containers)


COLUMNS: dict[str, list[Column]] = {
    "Pod": [("Ready", "string", _pod_ready, 0), ("Status", "string", _pod_status, 0),
            ("Restarts", "integer", _restarts, 0),
            ("IP", "string", lambda o: _get(o, "status", "podIP", default="<none>"), 1),
            ("Node", "string", lambda o: _get(o, "spec", "nodeName", default="<none>"), 1)],
    "Deployment": [("Ready", "string", _ratio("readyReplicas", "spec.replicas"), 0),
                   ("Up-to-date", "integer", _status("updatedReplicas"), 0),
                   ("Available", "integer", _status("availableReplicas"), 0),
                   ("Images", "string", _images, 1)],
    "StatefulSet": [("Ready", "string", _ratio("readyReplicas", "spec.replicas"), 0),
                    ("Images", "string", _images, 1)],
    "ReplicaSet": [("Desired", "integer", lambda o: _get(o, "spec", "replicas", default=0), 0),
                   ("Current", "integer", _status("replicas"), 0),
                   ("Ready", "integer", _status("readyReplicas"), 0)],
    "DaemonSet": [("Desired", "integer", _status("desiredNumberScheduled"), 0),
                  ("Ready", "integer", _status("numberReady"), 0),
                  ("Up-to-date", "integer", _status("updatedNumberScheduled"), 0),
                  ("Available", "integer", _status("numberAvailable"), 0)],
    "Namespace": [("Status", "string", lambda o: _get(o, "status", "phase", default=""), 0)],
    "Service": [("Type", "string", lambda o: _get(o, "spec", "type", default="ClusterIP"), 0),
                ("Cluster-IP", "string", lambda o: _get(o, "spec", "clusterIP", default=""), 0)],
    "ConfigMap": [("Data", "integer", lambda o: len(o.get("data") or {}), 0)],
    "MutatingWebhookConfiguration": [("Webhooks", "integer",
                                      lambda o: len(o.get("webhooks") or []), 0)],
    "ValidatingWebhookConfiguration": [("Webhooks", "integer",
                                        lambda o: len(o.get("webhooks") or []), 0)],
    "HorizontalPodAutoscaler": [
        ("Reference", "string", lambda o: "{}/{}".format(
            _get(o, "spec", "scaleTargetRef", "kind", default=""),
            _get(o, "spec", "scaleTargetRef", "name", default="")), 0),
        ("MinPods", "integer", lambda o: _get(o, "spec", "minReplicas", default=1), 0),
        ("MaxPods", "integer", lambda o: _get(o, "spec", "maxReplicas", default=0), 0),
        ("Replicas", "integer", _status("currentReplicas"), 0)],
    "Lease": [("Holder", "string", lambda o: _get(o, "spec", "holderIdentity", default=""), 0)],
}


def table(rt: ResourceType, objects: list[Obj], metadata: Obj, now: float,
          include_object: str) -> Obj:
    columns = COLUMNS.get(rt.kind, [])
    definitions = [_definition("Name", "string", 0, "name")]
    definitions += [_definition(name, kind, priority) for name, kind, _, priority in columns]
    definitions.append(_definition("Age", "string", 0))
    rows = [{"cells": [o["metadata"]["name"], *(cell(o) for _, _, cell, _ in columns),
                       _age(o, now)],
             "object": _row_object(o, include_object)} for o in objects]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": definitions, "rows": rows}


def _definition(name: str, kind: str, priority: int, fmt: str = "") -> Obj:
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]}


def _age(obj: Obj, now: float) -> str:
    created = _get(obj, "metadata", "creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = int(now - calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")))
    return human_duration(seconds)


def human_duration(seconds: int) -> str:
    """apimachinery's duration.HumanDuration, which kubectl's AGE column shows."""
    if seconds < -1:
        return "<invalid>"
    seconds = max(seconds, 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    years = days // 365
    return f"{years}y{days % 365}d" if years < 8 and days % 365 else f"{years}y"
