"""The cells of kubectl's `get` columns that take more than a field read, computed as the API
server's printers do (pkg/printers/internalversion/printers.go, printPod/printJob/printCronJob):
a pod's READY counts native sidecars, STATUS is the last container's reason (`Completed`,
`Error`, `CrashLoopBackOff`, `Init:1/2`, ...), a Job's STATUS and COMPLETIONS.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

Obj = dict[str, Any]


def get(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def seconds(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


# ---- pods ------------------------------------------------------------------------------------
def _sidecars(pod: Obj) -> set[str]:
    return {c["name"] for c in get(pod, "spec", "initContainers", default=None) or ()
            if c.get("restartPolicy") == "Always"}


def _scan_inits(pod: Obj) -> tuple[str | None, int, int]:
    """printPod's walk over init containers up to the first unfinished one: the `Init:...`
    reason (None when none blocks), the ready sidecars and the restarts seen on the way."""
    sidecars = _sidecars(pod)
    inits = get(pod, "spec", "initContainers", default=None) or ()
    ready = restarts = 0
    for i, status in enumerate(get(pod, "status", "initContainerStatuses", default=None) or ()):
        restarts += int(status.get("restartCount", 0))
        state = status.get("state") or {}
        ended, waiting = state.get("terminated"), state.get("waiting") or {}
        if ended is not None and ended.get("exitCode", 0) == 0:
            continue
        if status["name"] in sidecars and status.get("started"):
            ready += 1 if status.get("ready") else 0
            continue
        if ended is not None:
            return "Init:" + (ended.get("reason") or f"ExitCode:{ended.get('exitCode')}"), \
                ready, restarts
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return "Init:" + str(waiting["reason"]), ready, restarts
        return f"Init:{i}/{len(inits)}", ready, restarts
    return None, ready, restarts


def pod_ready(pod: Obj) -> str:
    total = len(get(pod, "spec", "containers", default=None) or ()) + len(_sidecars(pod))
    blocked, ready, _ = _scan_inits(pod)
    if blocked is None or _condition(pod, "Initialized"):
        ready += sum(1 for s in get(pod, "status", "containerStatuses", default=None) or ()
                     if s.get("ready") and "running" in (s.get("state") or {}))
    return f"{ready}/{total}"


def pod_status(pod: Obj) -> str:
    reason = str(get(pod, "status", "reason") or get(pod, "status", "phase") or "Pending")
    blocked, _, _ = _scan_inits(pod)
    if blocked is not None:
        reason = blocked
    if blocked is None or _condition(pod, "Initialized"):
        reason = _container_reason(pod, reason)
    terminal = get(pod, "status", "phase") in ("Succeeded", "Failed")
    if get(pod, "metadata", "deletionTimestamp") and not terminal:
        return "Terminating"
    return reason


def pod_restarts(pod: Obj, now: float) -> str:
    """RESTARTS: app containers' and sidecars' restarts (every init container's while the pod
    initializes), with how long ago the last one ended: `3 (42s ago)`."""
    inits = list(get(pod, "status", "initContainerStatuses", default=None) or ())
    counted = inits
    blocked, _, _ = _scan_inits(pod)
    if blocked is None or _condition(pod, "Initialized"):
        sidecars = _sidecars(pod)
        counted = [s for s in inits if s["name"] in sidecars]
        counted += list(get(pod, "status", "containerStatuses", default=None) or ())
    restarts = sum(int(s.get("restartCount", 0)) for s in counted)
    ended = [get(s, "lastState", "terminated", "finishedAt") for s in counted]
    last = max((seconds(str(e)) for e in ended if e), default=None)
    if restarts and last is not None:
        return f"{restarts} ({human_duration(int(now - last))} ago)"
    return str(restarts)


def _container_reason(pod: Obj, reason: str) -> str:
    running = False
    for status in reversed(get(pod, "status", "containerStatuses", default=None) or []):
        state = status.get("state") or {}
        waiting, ended = state.get("waiting") or {}, state.get("terminated")
        if waiting.get("reason"):
            reason = str(waiting["reason"])
        elif ended is not None:
            reason = str(ended.get("reason") or f"ExitCode:{ended.get('exitCode')}")
        elif status.get("ready") and "running" in state:
            running = True
    if reason == "Completed" and running:
        return "Running" if _condition(pod, "Ready") else "NotReady"
    return reason


def _condition(pod: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in get(pod, "status", "conditions", default=None) or ())


# ---- jobs and cronjobs -----------------------------------------------------------------------
def _job_condition(job: Obj, kind: str) -> bool:
    for cond in get(job, "status", "conditions", default=None) or ():
        if cond.get("type") == kind:
            return bool(cond.get("status") == "True")
    return False


def job_status(job: Obj) -> str:
    if _job_condition(job, "Complete"):
        return "Complete"
    if _job_condition(job, "Failed"):
        return "Failed"
    if get(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget"):
        if _job_condition(job, kind):
            return kind
    return "Running"


def job_completions(job: Obj) -> str:
    succeeded = get(job, "status", "succeeded", default=0) or 0
    completions = get(job, "spec", "completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = get(job, "spec", "parallelism", default=0) or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def job_duration(job: Obj, now: float) -> str:
    start, end = get(job, "status", "startTime"), get(job, "status", "completionTime")
    if not start:
        return ""
    return human_duration(int((seconds(end) if end else now) - seconds(start)))


def since(stamp: str | None, now: float) -> str:
    """translateTimestampSince: the AGE of a timestamp, `<unknown>` without one."""
    return human_duration(int(now - seconds(stamp))) if stamp else "<unknown>"


def bool_ptr(value: Any) -> str:
    return "<unset>" if value is None else ("True" if value else "False")


def containers(template_spec: Obj) -> tuple[str, str]:
    items = template_spec.get("containers") or ()
    return (",".join(str(c.get("name", "")) for c in items),
            ",".join(str(c.get("image", "")) for c in items))


def selector(sel: Obj | None) -> str:
    """metav1.FormatLabelSelector."""
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or ():
        op, values = str(expr.get("operator", "")), ",".join(expr.get("values") or ())
        key = str(expr.get("key", ""))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(parts) or "<none>"


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
