"""The Job controller (pkg/controller/job): pods for `parallelism` up to `completions`, each
with the `batch.kubernetes.io/job-tracking` finalizer until its end is counted; failed pods
replaced after the pod back-off (10s doubling, at most 6m) until `backoffLimit` is passed (or,
under OnFailure, the container restarts reach it); `activeDeadlineSeconds`; suspend.

Status as the controller writes it: active, ready, succeeded, failed, terminating,
uncountedTerminatedPods, startTime, completionTime. A finished Job gets `Complete` or `Failed`;
from 1.31 these follow the interim `SuccessCriteriaMet` / `FailureTarget` conditions, with
reason `CompletionsReached` on success (delayTerminalCondition, JobSuccessPolicy beta).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from meshsim.clock import SimClock
from meshsim.kube.controllers.base import (
    JOB,
    POD,
    active,
    find_condition,
    owned_by,
    parse_time,
    pod_ready,
    random_suffix,
    replace,
    write_status,
)
from meshsim.kube.controllers.pods import new_pod
from meshsim.kube.store import APIError, Obj, Store

TRACKING = "batch.kubernetes.io/job-tracking"
DELAYED_TERMINAL_MINOR = 31
RETRY_AFTER = 5.0
POD_BACKOFF, POD_BACKOFF_MAX = 10.0, 360.0
BACKOFF_LIMIT = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")


def finished(job: Obj) -> bool:
    return any((find_condition(job, kind) or {}).get("status") == "True"
               for kind in ("Complete", "Failed"))


def job_condition(kind: str, status: str, at: str, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": status, "lastProbeTime": at, "lastTransitionTime": at}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


class JobController:
    def __init__(self, store: Store, clock: SimClock, rng: random.Random,
                 minor: Callable[[], int]) -> None:
        self.store, self.clock, self.rng, self._minor = store, clock, rng, minor

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            job = self.store.find(JOB, namespace, name)
            if job is None or finished(job):
                return None
            pods = owned_by(self.store, POD, job)
            status = dict(job.get("status") or {})
            self._count(pods, status)
            wait = self._advance(job, active(owned_by(self.store, POD, job)), status)
            running = active(owned_by(self.store, POD, job))
            status.update(active=len(running), ready=sum(1 for p in running if pod_ready(p)))
            write_status(self.store, JOB, job, _ordered(status))
            return wait

    def _count(self, pods: list[Obj], status: Obj) -> None:
        """Count each finished pod once, releasing its tracking finalizer as it is counted."""
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase not in ("Succeeded", "Failed") or TRACKING not in _finalizers(pod):
                continue
            field = "succeeded" if phase == "Succeeded" else "failed"
            status[field] = int(status.get(field, 0)) + 1
            self._release(pod)

    def _release(self, pod: Obj) -> None:
        rest = [f for f in _finalizers(pod) if f != TRACKING]
        meta = {k: v for k, v in pod["metadata"].items() if k != "finalizers"}
        if rest:
            meta["finalizers"] = rest
        replace(self.store, POD, dict(pod, metadata=meta))

    def _advance(self, job: Obj, running: list[Obj], status: Obj) -> float | None:
        spec, stamp = job["spec"], self.clock.rfc3339()
        if not status.get("startTime") and not spec.get("suspend"):
            status["startTime"] = stamp
        failure = self._failure(job, running, status)
        if failure is not None:
            status["failed"] = int(status.get("failed", 0)) + self._delete(running)
            self._finish(status, "Failed", "FailureTarget", *failure)
            return None
        if _complete(spec, status, running):
            self._finish(status, "Complete", "SuccessCriteriaMet", *self._success_reason())
            status["completionTime"] = stamp
            return None
        return self._manage(job, running, status)

    def _failure(self, job: Obj, running: list[Obj], status: Obj) -> tuple[str, str] | None:
        spec = job["spec"]
        limit = int(spec.get("backoffLimit", 6))
        if int(status.get("failed", 0)) > limit or _past_limit_on_failure(spec, running, limit):
            return BACKOFF_LIMIT
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and status.get("startTime") and not spec.get("suspend") and \
                self.clock.now() - parse_time(status["startTime"]) >= int(deadline):
            return DEADLINE
        return None

    def _success_reason(self) -> tuple[str, str]:
        if self._minor() >= DELAYED_TERMINAL_MINOR:
            return "CompletionsReached", "Reached expected number of succeeded pods"
        return "", ""

    def _finish(self, status: Obj, final: str, interim: str, reason: str, message: str) -> None:
        stamp = self.clock.rfc3339()
        conditions = list(status.get("conditions") or [])
        if self._minor() >= DELAYED_TERMINAL_MINOR:
            conditions.append(job_condition(interim, "True", stamp, reason, message))
        conditions.append(job_condition(final, "True", stamp, reason, message))
        status["conditions"] = conditions

    def _manage(self, job: Obj, running: list[Obj], status: Obj) -> float | None:
        spec = job["spec"]
        self._suspended_condition(job, status)
        if spec.get("suspend"):
            self._delete(running)
            return None
        missing = _wanted(spec, status, len(running)) - len(running)
        if missing <= 0:
            return self._deadline_wait(spec, status)
        delay = self._pod_backoff(job)
        if delay > 0:
            return delay
        try:
            for _ in range(missing):
                self._create(job)
        except APIError:
            return RETRY_AFTER
        return self._deadline_wait(spec, status)

    def _suspended_condition(self, job: Obj, status: Obj) -> None:
        suspended = bool(job["spec"].get("suspend"))
        current = next((c for c in status.get("conditions") or ()
                        if c["type"] == "Suspended"), None)
        if current is None and not suspended:
            return
        if current is not None and (current["status"] == "True") == suspended:
            return
        stamp = self.clock.rfc3339()
        cond = job_condition("Suspended", "True", stamp, "JobSuspended", "Job suspended") \
            if suspended else job_condition("Suspended", "False", stamp, "JobResumed",
                                            "Job resumed")
        status["conditions"] = [c for c in status.get("conditions") or ()
                                if c["type"] != "Suspended"] + [cond]
        if not suspended:
            status["startTime"] = stamp  # a resumed Job's deadline starts again

    def _pod_backoff(self, job: Obj) -> float:
        """Seconds still to wait before replacing failed pods (the controller's podBackoffStore:
        failures since the last success, from the last failure's end)."""
        ended = sorted((_ended_at(p), str((p.get("status") or {}).get("phase")))
                       for p in owned_by(self.store, POD, job)
                       if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"))
        failures = 0
        for _, phase in ended:
            failures = 0 if phase == "Succeeded" else failures + 1
        if not failures:
            return 0.0
        delay = min(POD_BACKOFF * 2.0 ** (failures - 1), POD_BACKOFF_MAX)
        return max(ended[-1][0] + delay - self.clock.now(), 0.0)

    def _deadline_wait(self, spec: Obj, status: Obj) -> float | None:
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is None or not status.get("startTime"):
            return None
        return max(parse_time(status["startTime"]) + int(deadline) - self.clock.now(), 0.0)

    def _create(self, job: Obj) -> None:
        name = f"{job['metadata']['name']}-{random_suffix(self.rng)}"
        pod = new_pod(job["spec"]["template"], job, name)
        pod["metadata"]["finalizers"] = [TRACKING]
        self.store.create(POD, pod)

    def _delete(self, pods: list[Obj]) -> int:
        for pod in pods:
            self.store.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"])
        return len(pods)


def _finalizers(pod: Obj) -> list[str]:
    return list(pod["metadata"].get("finalizers") or ())


def _wanted(spec: Obj, status: Obj, running: int) -> int:
    parallelism = int(spec.get("parallelism", 1))
    succeeded = int(status.get("succeeded", 0))
    completions = spec.get("completions")
    if completions is None:  # a work queue: once one pod succeeded, no more start
        return running if succeeded else parallelism
    return max(min(int(completions) - succeeded, parallelism), 0)


def _complete(spec: Obj, status: Obj, running: list[Obj]) -> bool:
    succeeded, completions = int(status.get("succeeded", 0)), spec.get("completions")
    if running:
        return False
    return succeeded > 0 if completions is None else succeeded >= int(completions)


def _past_limit_on_failure(spec: Obj, running: list[Obj], limit: int) -> bool:
    """pastBackoffLimitOnFailure: under OnFailure, container restarts count against the limit."""
    if spec["template"].get("spec", {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(int(s.get("restartCount", 0)) for p in running
                   for key in ("initContainerStatuses", "containerStatuses")
                   for s in (p.get("status") or {}).get(key) or ())
    return restarts > 0 if limit == 0 else restarts >= limit


def _ended_at(pod: Obj) -> float:
    status = pod.get("status") or {}
    stamps = [(s.get("state") or {}).get("terminated", {}).get("finishedAt")
              for s in status.get("containerStatuses") or ()]
    stamps = [s for s in stamps if s] or [c.get("lastTransitionTime") for c in
                                          status.get("conditions") or ()
                                          if c.get("type") == "Ready"]
    return max(parse_time(s) for s in stamps if s) if any(stamps) else 0.0


def _ordered(status: Obj) -> Obj:
    """The JobStatus fields in the API's order; zero counters left out (omitempty), `ready`,
    `terminating` and `uncountedTerminatedPods` always present."""
    out: Obj = {k: status[k] for k in ("conditions", "startTime", "completionTime", "active",
                                       "succeeded", "failed") if status.get(k)}
    out.update(terminating=0, uncountedTerminatedPods={}, ready=status.get("ready", 0))
    return out
