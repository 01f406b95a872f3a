"""What to tell people about pods a rollout restart cannot move: running Job pods and pods
that already finished. Pure wording over the census; the plan, the gates and the checks use it.

A Job cannot be rolled out: its pod keeps the sidecar it started with until it ends. With a
classic sidecar it may never end, since istio-proxy does not quit when the app exits unless
the job calls /quitquitquit. Finished pods (Succeeded or Failed) run nothing and use no control
plane; they only keep their old annotation until deleted.
"""

from __future__ import annotations

import re

from bot.upgrade.cluster_facts import Census, FinishedPods, WorkloadRef, WorkloadSidecars

JOB = "Job"
# The CronJob controller names its Jobs `<cronjob>-<scheduled time in minutes>`.
_CRONJOB_JOB = re.compile(r"(.+)-[0-9]{8,}")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def is_job(ref: WorkloadRef) -> bool:
    return ref.kind == JOB


def cronjob_of(job: str) -> str | None:
    """The CronJob that made Job `job`, judged by its name; None for a Job of its own."""
    match = _CRONJOB_JOB.fullmatch(job)
    return match[1] if match else None


def job_note(w: WorkloadSidecars, revision: str, removing: bool = False) -> str:
    """A Job's running pods on `revision`, and what to do; `removing`: the revision is about
    to be removed (a gate), else they only cannot be restarted (a plan)."""
    count = w.revisions.get(revision, 0)
    one = count == 1
    why = f"would lose {'its' if one else 'their'} control plane" if removing \
        else "cannot be rolled out"
    text = (f"{w.workload}: {plural(count, 'running Job pod')} on {revision} {why}: wait for "
            f"the Job to finish, or delete {'the pod' if one else 'the pods'}")
    cronjob = cronjob_of(w.workload.name)
    if cronjob:
        text += f" (the next run of CronJob {cronjob} gets the new sidecar)"
    return text + _classic_hint(w)


def _classic_hint(w: WorkloadSidecars) -> str:
    if w.app_exited:
        who = "1 pod only runs" if w.app_exited == 1 else f"{w.app_exited} pods only run"
        return (f"; {who} on because the app exited but the classic istio-proxy did not (it "
                "never quits unless the job calls /quitquitquit): delete "
                f"{'it' if w.app_exited == 1 else 'them'}")
    if w.injected > w.native:
        return ("; with a classic sidecar a Job pod keeps running after its app exits "
                "(istio-proxy never quits unless the job calls /quitquitquit), so it may "
                "never finish by itself: then delete it")
    return ""


def finished_note(f: FinishedPods) -> str:
    """`3 finished Job pods still show asm-1-22; they go when deleted (...)`."""
    what = {JOB: "finished Job pod", "Evicted": "evicted pod"}.get(f.kind, "finished pod")
    where = f"-n {f.namespaces[0]}" if len(f.namespaces) == 1 else "-A"
    verb, they = ("shows", "it goes") if f.pods == 1 else ("show", "they go")
    return (f"{plural(f.pods, what)} still {verb} {f.revision}; {they} when deleted "
            f"(kubectl delete pods {where} --field-selector=status.phase={f.phase}); "
            "not blocking")


def job_notes(census: Census, revision: str, removing: bool = False) -> tuple[str, ...]:
    """Every Job with a running pod on `revision`, when it is to be removed; else (a patch
    restart) every such Job whose sidecar is outdated."""
    return tuple(job_note(w, revision, removing) for ref, w in sorted(census.by_workload.items())
                 if is_job(ref) and w.revisions.get(revision) and (removing or w.drifted))


def finished_notes(census: Census, revision: str | None = None) -> tuple[str, ...]:
    """Finished pods still annotated with `revision` (every revision, if None)."""
    return tuple(finished_note(f) for f in census.finished
                 if revision is None or f.revision == revision)
