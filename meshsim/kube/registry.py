"""What the API server's registry strategies add to storage (pkg/registry/*/strategy.go and
pkg/apis/*/validation): a Job's generated selector and pod labels, which need the uid the store
has just assigned; the create-time checks of Jobs and CronJobs; and the one check a pod status
write meets: a container that ended for good may not run again.

There is no check on the pod phase itself: the API server accepts a status write that moves a
pod out of Succeeded or Failed (only the kubelet refuses to); kubernetes#125410 discusses it.
"""

from __future__ import annotations

from meshsim.kube import cron
from meshsim.kube.errors import Obj, invalid
from meshsim.kube.resources import ResourceType

JOB_NAME, LEGACY_JOB_NAME = "batch.kubernetes.io/job-name", "job-name"
CONTROLLER_UID, LEGACY_CONTROLLER_UID = "batch.kubernetes.io/controller-uid", "controller-uid"
JOB_RESTART_POLICIES = ("OnFailure", "Never")
Cause = tuple[str, str, str]  # reason, field, message


def prepare_create(rt: ResourceType, obj: Obj) -> None:
    """Strategy PrepareForCreate + Validate, on the object about to be stored (uid set)."""
    if rt.kind == "Job":
        obj["status"] = {}
        if not obj["spec"].get("manualSelector"):
            generate_selector(obj)
        _raise(rt, obj, _pod_template_causes(obj["spec"], "spec"))
    elif rt.kind == "CronJob":
        obj["status"] = {}
        spec = obj.setdefault("spec", {})
        causes = _schedule_causes(spec)
        causes += _pod_template_causes(spec.get("jobTemplate", {}).get("spec", {}),
                                       "spec.jobTemplate.spec")
        _raise(rt, obj, causes)


def generate_selector(job: Obj) -> None:
    """The labels that tie a Job's pods to it, on the pod template and in the selector. A Job
    without labels of its own shows the template's (SetDefaults_Job, which runs again when
    the stored Job is read back, so it sees the generated ones too)."""
    meta, spec = job["metadata"], job["spec"]
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    share = not meta.get("labels")
    labels = template_meta.setdefault("labels", {})
    for key in (LEGACY_JOB_NAME, JOB_NAME):
        labels.setdefault(key, meta["name"])
    for key in (LEGACY_CONTROLLER_UID, CONTROLLER_UID):
        labels.setdefault(key, meta["uid"])
    selector = spec.setdefault("selector", {}).setdefault("matchLabels", {})
    selector.setdefault(CONTROLLER_UID, meta["uid"])
    if share:
        meta["labels"] = dict(labels)


def validate_status_update(rt: ResourceType, old: Obj, new: Obj) -> None:
    """ValidatePodStatusUpdate's container state rule, for pods that do not always restart."""
    if rt.kind != "Pod":
        return
    spec = old.get("spec") or {}
    policy = spec.get("restartPolicy", "Always")
    sidecars = {c["name"] for c in spec.get("initContainers") or ()
                if c.get("restartPolicy") == "Always"}
    causes = _transitions(old, new, "containerStatuses", policy, set())
    causes += _transitions(old, new, "initContainerStatuses", policy, sidecars)
    _raise(rt, old, causes)


def _transitions(old: Obj, new: Obj, key: str, policy: str, exempt: set[str]) -> list[Cause]:
    if policy == "Always":
        return []
    new_states = {s.get("name"): s.get("state") or {}
                  for s in (new.get("status") or {}).get(key) or ()}
    causes: list[Cause] = []
    for i, status in enumerate((old.get("status") or {}).get(key) or ()):
        ended = (status.get("state") or {}).get("terminated")
        if ended is None or status.get("name") in exempt:
            continue
        if ended.get("exitCode", 0) != 0 and policy == "OnFailure":
            continue
        state = new_states.get(status.get("name"))
        if state is not None and "terminated" not in state:
            causes.append(("FieldValueForbidden", f"status.{key}[{i}].state",
                           "Forbidden: may not be transitioned to non-terminated state"))
    return causes


def _pod_template_causes(job_spec: Obj, path: str) -> list[Cause]:
    policy = ((job_spec.get("template") or {}).get("spec") or {}).get("restartPolicy", "")
    if policy in JOB_RESTART_POLICIES:
        return []
    supported = ", ".join(f'"{p}"' for p in JOB_RESTART_POLICIES)
    return [("FieldValueNotSupported", f"{path}.template.spec.restartPolicy",
             f'Unsupported value: "{policy}": supported values: {supported}')]


def _schedule_causes(spec: Obj) -> list[Cause]:
    causes: list[Cause] = []
    schedule, zone = str(spec.get("schedule") or ""), spec.get("timeZone")
    try:
        cron.parse(schedule)
    except cron.CronError as exc:
        causes.append(("FieldValueInvalid", "spec.schedule", f'Invalid value: "{schedule}": {exc}'))
    try:
        cron.zone(None if zone is None else str(zone))
    except cron.CronError as exc:
        causes.append(("FieldValueInvalid", "spec.timeZone", f'Invalid value: "{zone}": {exc}'))
    return causes


def _raise(rt: ResourceType, obj: Obj, causes: list[Cause]) -> None:
    if causes:
        raise invalid(rt, obj["metadata"].get("name", ""), causes)
