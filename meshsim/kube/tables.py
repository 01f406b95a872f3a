"""Server-side printing: `meta.k8s.io/v1` Tables for kubectl's human-readable `get`.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the cells as
given, so the columns (READY, STATUS, AGE, ...) are computed here, as the real server's
printers do (meshsim.kube.printers). AGE follows the default columns and precedes the
`-o wide` ones. Rows carry PartialObjectMetadata unless `includeObject=Object` is asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshsim.kube import printers as p
from meshsim.kube.printers import get as _get
from meshsim.kube.printers import human_duration as human_duration
from meshsim.kube.resources import ResourceType
from meshsim.kube.store import Obj

Cell = Callable[[Obj, float], Any]  # the object and the server's clock
Column = tuple[str, str, Cell, int]  # name, type, getter, priority (1 = only with -o wide)


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def _f(getter: Callable[[Obj], Any]) -> Cell:
    return lambda obj, _now: getter(obj)


def _ratio(ready: str, total: str) -> Cell:
    path = total.split(".")
    return _f(lambda o: f"{_get(o, 'status', ready, default=0)}/{_get(o, *path, default=0)}")


def _status(field: str) -> Cell:
    return _f(lambda o: _get(o, "status", field, default=0))


def _images(obj: Obj) -> str:
    containers = _get(obj, "spec", "template", "spec", "containers", default=[]) or []
    return ",".join(str(c.get("image", "")) for c in containers)


def _job_spec_cells(path: tuple[str, ...]) -> list[Column]:
    """CONTAINERS, IMAGES and SELECTOR of the Job spec at `path`, for `-o wide`."""
    def spec(o: Obj) -> Obj:
        return _get(o, *path, default={}) or {}
    return [("Containers", "string", _f(lambda o: p.containers(
                 _get(spec(o), "template", "spec", default={}) or {})[0]), 1),
            ("Images", "string", _f(lambda o: p.containers(
                _get(spec(o), "template", "spec", default={}) or {})[1]), 1),
            ("Selector", "string", _f(lambda o: p.selector(spec(o).get("selector"))), 1)]


COLUMNS: dict[str, list[Column]] = {
    "Pod": [("Ready", "string", _f(p.pod_ready), 0), ("Status", "string", _f(p.pod_status), 0),
            ("Restarts", "string", p.pod_restarts, 0),
            ("IP", "string", _f(lambda o: _get(o, "status", "podIP", default="<none>")), 1),
            ("Node", "string", _f(lambda o: _get(o, "spec", "nodeName", default="<none>")), 1)],
    "Deployment": [("Ready", "string", _ratio("readyReplicas", "spec.replicas"), 0),
                   ("Up-to-date", "integer", _status("updatedReplicas"), 0),
                   ("Available", "integer", _status("availableReplicas"), 0),
                   ("Images", "string", _f(_images), 1)],
    "StatefulSet": [("Ready", "string", _ratio("readyReplicas", "spec.replicas"), 0),
                    ("Images", "string", _f(_images), 1)],
    "ReplicaSet": [("Desired", "integer", _f(lambda o: _get(o, "spec", "replicas", default=0)), 0),
                   ("Current", "integer", _status("replicas"), 0),
                   ("Ready", "integer", _status("readyReplicas"), 0)],
    "DaemonSet": [("Desired", "integer", _status("desiredNumberScheduled"), 0),
                  ("Ready", "integer", _status("numberReady"), 0),
                  ("Up-to-date", "integer", _status("updatedNumberScheduled"), 0),
                  ("Available", "integer", _status("numberAvailable"), 0)],
    "Job": [("Status", "string", _f(p.job_status), 0),
            ("Completions", "string", _f(p.job_completions), 0),
            ("Duration", "string", p.job_duration, 0), *_job_spec_cells(("spec",))],
    "CronJob": [("Schedule", "string", _f(lambda o: _get(o, "spec", "schedule", default="")), 0),
                ("Timezone", "string",
                 _f(lambda o: _get(o, "spec", "timeZone") or "<none>"), 0),
                ("Suspend", "boolean", _f(lambda o: p.bool_ptr(_get(o, "spec", "suspend"))), 0),
                ("Active", "integer", _f(lambda o: len(_get(o, "status", "active") or ())), 0),
                ("Last Schedule", "string", lambda o, now: p.since(
                    _get(o, "status", "lastScheduleTime"), now).replace("<unknown>", "<none>"),
                 0),
                *_job_spec_cells(("spec", "jobTemplate", "spec"))],
    "Namespace": [("Status", "string", _f(lambda o: _get(o, "status", "phase", default="")), 0)],
    "Service": [("Type", "string", _f(lambda o: _get(o, "spec", "type", default="ClusterIP")), 0),
                ("Cluster-IP", "string", _f(lambda o: _get(o, "spec", "clusterIP", default="")),
                 0)],
    "ConfigMap": [("Data", "integer", _f(lambda o: len(o.get("data") or {})), 0)],
    "MutatingWebhookConfiguration": [("Webhooks", "integer",
                                      _f(lambda o: len(o.get("webhooks") or [])), 0)],
    "ValidatingWebhookConfiguration": [("Webhooks", "integer",
                                        _f(lambda o: len(o.get("webhooks") or [])), 0)],
    "HorizontalPodAutoscaler": [
        ("Reference", "string", _f(lambda o: "{}/{}".format(
            _get(o, "spec", "scaleTargetRef", "kind", default=""),
            _get(o, "spec", "scaleTargetRef", "name", default=""))), 0),
        ("MinPods", "integer", _f(lambda o: _get(o, "spec", "minReplicas", default=1)), 0),
        ("MaxPods", "integer", _f(lambda o: _get(o, "spec", "maxReplicas", default=0)), 0),
        ("Replicas", "integer", _status("currentReplicas"), 0)],
    "Lease": [("Holder", "string", _f(lambda o: _get(o, "spec", "holderIdentity", default="")),
               0)],
}
AGE: Column = ("Age", "string", lambda o, now: p.since(_get(o, "metadata", "creationTimestamp"),
                                                          now), 0)


def _ordered(kind: str) -> list[Column]:
    columns = COLUMNS.get(kind, [])
    return ([c for c in columns if not c[3]] + [AGE] + [c for c in columns if c[3]])


def table(rt: ResourceType, objects: list[Obj], metadata: Obj, now: float,
          include_object: str) -> Obj:
    columns = _ordered(rt.kind)
    definitions = [_definition("Name", "string", 0, "name")]
    definitions += [_definition(name, kind, priority) for name, kind, _, priority in columns]
    rows = [{"cells": [o["metadata"]["name"], *(cell(o, now) for _, _, cell, _ in columns)],
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
