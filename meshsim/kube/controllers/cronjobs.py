"""The CronJob controller (pkg/controller/cronjob, cronjob_controllerv2.go) on the simulated
clock: at each scheduled minute since the last schedule (or the CronJob's creation) it makes
the Job `<cronjob>-<scheduled time in minutes since the epoch>` from `jobTemplate`, owned by the
CronJob, honouring `suspend`, `concurrencyPolicy` and `startingDeadlineSeconds`; only the most
recent missed time is started. It keeps `status.active`, `lastScheduleTime` and
`lastSuccessfulTime`, and deletes the oldest finished Jobs beyond
`successfulJobsHistoryLimit` / `failedJobsHistoryLimit`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from meshsim.clock import SimClock
from meshsim.kube import cron
from meshsim.kube.controllers.base import (
    CRONJOB,
    JOB,
    clone,
    find_condition,
    owned_by,
    owner_ref,
    parse_time,
    write_status,
)
from meshsim.kube.controllers.gc import delete_cascade
from meshsim.kube.controllers.jobs import finished
from meshsim.kube.store import APIError, Obj, Store

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
SCHEDULED_ANNOTATION_MINOR = 32  # CronJobsScheduledAnnotation is on by default from 1.32
NEXT_SYNC_SLACK = 0.1  # the controller requeues 100ms after the next scheduled time
RECENT_WINDOW = 2 * 86400.0  # search here first for the latest missed time


def _succeeded(job: Obj) -> bool:
    return (find_condition(job, "Complete") or {}).get("status") == "True"


class CronJobController:
    def __init__(self, store: Store, clock: SimClock, minor: Callable[[], int]) -> None:
        self.store, self.clock, self._minor = store, clock, minor

    def sync(self, namespace: str, name: str, instant: bool = False) -> float | None:
        with self.store.lock:
            cj = self.store.find(CRONJOB, namespace, name)
            if cj is None:
                return None
            jobs = owned_by(self.store, JOB, cj)
            status = dict(cj.get("status") or {})
            _reconcile(jobs, status)
            self._cleanup(cj, jobs)
            wait = self._schedule(cj, status)
            write_status(self.store, CRONJOB, cj, _ordered(status))
            return wait

    def _cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = cj["spec"]
        done = [j for j in jobs if finished(j)]
        for keep, group in ((spec.get("successfulJobsHistoryLimit"), filter(_succeeded, done)),
                            (spec.get("failedJobsHistoryLimit"),
                             (j for j in done if not _succeeded(j)))):
            if keep is None:
                continue
            ordered = sorted(group, key=lambda j: (not (j.get("status") or {}).get("startTime"),
                                                   (j.get("status") or {}).get("startTime", ""),
                                                   j["metadata"]["name"]))
            for job in ordered[: max(len(ordered) - int(keep), 0)]:
                delete_cascade(self.store, JOB, job["metadata"]["namespace"],
                               job["metadata"]["name"])

    def _schedule(self, cj: Obj, status: Obj) -> float | None:
        spec, now = cj["spec"], self.clock.now()
        if spec.get("suspend"):
            return None
        try:
            schedule, zone = cron.parse(spec.get("schedule", "")), cron.zone(spec.get("timeZone"))
        except cron.CronError:
            return None
        earliest = parse_time(status.get("lastScheduleTime")
                              or cj["metadata"]["creationTimestamp"])
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - int(deadline))
        upcoming = schedule.next_after(datetime.fromtimestamp(now, zone))
        wait = None if upcoming is None else upcoming.timestamp() - now + NEXT_SYNC_SLACK
        scheduled = _most_recent(schedule, zone, earliest, now)
        if scheduled is not None and self._may_start(cj, status):
            self._start(cj, status, scheduled, zone)
        return wait

    def _may_start(self, cj: Obj, status: Obj) -> bool:
        policy = cj["spec"].get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and status.get("active"):
            return False
        if policy == "Replace":
            for ref in status.get("active") or ():
                delete_cascade(self.store, JOB, ref["namespace"], ref["name"])
            status["active"] = []
        return True

    def _start(self, cj: Obj, status: Obj, scheduled: float, zone: tzinfo) -> None:
        job = self._job(cj, scheduled, zone)
        try:
            created = self.store.create(JOB, job)
        except APIError as exc:
            if exc.code != 409:  # AlreadyExists: this time was started before
                raise
            created = self.store.get(JOB, job["metadata"]["namespace"], job["metadata"]["name"])
        meta = created["metadata"]
        status["active"] = [*(status.get("active") or ()), {
            "apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
            "namespace": meta["namespace"], "resourceVersion": meta["resourceVersion"],
            "uid": meta["uid"]}]
        status["lastScheduleTime"] = self.clock.rfc3339(scheduled)

    def _job(self, cj: Obj, scheduled: float, zone: tzinfo) -> Obj:
        """getJobFromTemplate2: the template's labels and annotations, a name fixed by the
        scheduled time (so a time is never started twice), owned by the CronJob."""
        template = cj["spec"].get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        meta: Obj = {"name": f"{cj['metadata']['name']}-{int(scheduled // 60)}",
                     "namespace": cj["metadata"]["namespace"],
                     "ownerReferences": [owner_ref(cj)]}
        notes = dict(tmeta.get("annotations") or {})
        if self._minor() >= SCHEDULED_ANNOTATION_MINOR:
            stamp = datetime.fromtimestamp(scheduled, zone).isoformat()
            notes[SCHEDULED_ANNOTATION] = stamp.replace("+00:00", "Z")  # Go's RFC3339
        if tmeta.get("labels"):
            meta["labels"] = dict(tmeta["labels"])
        if notes:
            meta["annotations"] = notes
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                "spec": clone(template.get("spec") or {})}


def _most_recent(schedule: cron.Schedule, zone: tzinfo, earliest: float,
                 now: float) -> float | None:
    """The latest scheduled time in (earliest, now], looked for in the last two days first."""
    for start in (max(earliest, now - RECENT_WINDOW), earliest):
        found = None
        t = schedule.next_after(datetime.fromtimestamp(start, zone))
        while t is not None and t.timestamp() <= now:
            found = t.timestamp()
            t = schedule.next_after(t)
        if found is not None or start == earliest:
            return found
    return None


def _reconcile(jobs: list[Obj], status: Obj) -> None:
    """Drop finished or vanished Jobs from `active`; note the latest successful completion."""
    by_uid = {j["metadata"]["uid"]: j for j in jobs}
    status["active"] = [ref for ref in status.get("active") or ()
                        if ref.get("uid") in by_uid and not finished(by_uid[ref["uid"]])]
    completions = [j["status"]["completionTime"] for j in jobs
                   if _succeeded(j) and (j.get("status") or {}).get("completionTime")]
    if completions:
        latest = max(completions, key=parse_time)
        current = status.get("lastSuccessfulTime")
        if current is None or parse_time(latest) > parse_time(current):
            status["lastSuccessfulTime"] = latest


def _ordered(status: Obj) -> Obj:
    return {k: status[k] for k in ("active", "lastScheduleTime", "lastSuccessfulTime")
            if status.get(k)}
