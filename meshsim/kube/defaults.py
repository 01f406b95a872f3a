"""Field defaulting the API server applies on create (pkg/apis/*/v1/defaults.go), limited to
the fields that `kubectl rollout status` and the controllers read, plus the webhook defaults
that a `get -o yaml` of a MutatingWebhookConfiguration shows.
"""

from __future__ import annotations

import copy
from typing import Any

from meshsim.kube.resources import ResourceType
from meshsim.kube.store import Obj, Store

ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}


def apply_defaults(store: Store, rt: ResourceType, obj: Obj) -> Obj:
    """A Store admission hook; registered before the mutating webhooks, as in the apiserver."""
    fill = _DEFAULTERS.get(rt.kind)
    if fill is not None:
        fill(obj)
    return obj


def _workload(obj: Obj) -> Obj:
    spec: Obj = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    _pod_spec(template.setdefault("spec", {}))
    selector = spec.setdefault("selector", {})
    if not selector:
        selector["matchLabels"] = dict(template["metadata"].get("labels") or {})
    obj.setdefault("status", {})
    return spec


def _deployment(obj: Obj) -> None:
    spec = _workload(obj)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", copy.deepcopy(ROLLING))
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxSurge", "25%")
        rolling.setdefault("maxUnavailable", "25%")


def _statefulset(obj: Obj) -> None:
    spec = _workload(obj)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("serviceName", "")
    spec.setdefault("persistentVolumeClaimRetentionPolicy",
                    {"whenDeleted": "Retain", "whenScaled": "Retain"})
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type") == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"partition": 0})


def _daemonset(obj: Obj) -> None:
    spec = _workload(obj)
    spec.pop("replicas", None)
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type") == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxSurge": 0, "maxUnavailable": 1})


def _job(obj: Obj) -> None:
    """SetDefaults_Job (1.30): one pod to one completion unless told otherwise."""
    spec = obj.setdefault("spec", {})
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2147483647 if "backoffLimitPerIndex" in spec else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", False)
    spec.setdefault("podReplacementPolicy",
                    "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    _job_template(spec)


def _cronjob(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    _job_template(spec.setdefault("jobTemplate", {}).setdefault("spec", {}))


def _job_template(job_spec: Obj) -> None:
    template = job_spec.setdefault("template", {})
    template.setdefault("metadata", {})
    _pod_spec(template.setdefault("spec", {}))


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in spec.get("containers") or ():
        container.setdefault("imagePullPolicy", _pull_policy(container.get("image", "")))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})


def _pull_policy(image: str) -> str:
    tag = image.rsplit("/", 1)[-1]
    return "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"


def _pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    _pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    obj["status"] = {"phase": "Pending", "qosClass": _qos(spec)}


def _qos(spec: Obj) -> str:
    resources = [c.get("resources") or {} for c in spec.get("containers") or ()]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(r.get("limits") and r.get("requests", r["limits"]) == r["limits"]
                     for r in resources)
    return "Guaranteed" if guaranteed else "Burstable"


def _webhooks(obj: Obj) -> None:
    for hook in obj.get("webhooks") or ():
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        hook.setdefault("timeoutSeconds", 10)
        if obj.get("kind") == "MutatingWebhookConfiguration":
            hook.setdefault("reinvocationPolicy", "Never")
        for rule in hook.get("rules") or ():
            rule.setdefault("scope", "*")
        ref = (hook.get("clientConfig") or {}).get("service")
        if ref is not None:
            ref.setdefault("port", 443)


_DEFAULTERS: dict[str, Any] = {
    "Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset,
    "ReplicaSet": _workload, "Pod": _pod, "MutatingWebhookConfiguration": _webhooks,
    "Job": _job, "CronJob": _cronjob,
    "ValidatingWebhookConfiguration": _webhooks,
}
