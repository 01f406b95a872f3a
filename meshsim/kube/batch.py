"""Run-to-completion workloads for scenarios: Job and CronJob bodies whose pods the simulated
kubelet runs for `run_seconds` and ends with `exit_code`, and `evict`, the kubelet evicting a
pod under node pressure. Create the bodies with `KubeSim.create` (inside `sim.settled()` to
build a cluster that is already steady).

`quits_proxy` marks a job that calls pilot-agent's /quitquitquit when done; without it a pod
with a classic istio-proxy sidecar never completes (its app ends, the proxy runs on). Pods
with a native sidecar complete either way. `run_seconds=0` ends the app as soon as it starts,
so a settled scenario already shows the Job complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshsim.kube.controllers.containers import CRASH_LOOP, EXIT_CODE, QUITS_PROXY, RUN_SECONDS
from meshsim.kube.controllers.eviction import evict_pod
from meshsim.kube.store import Obj

if TYPE_CHECKING:
    from meshsim.kube.cluster import KubeSim

# A pod template annotation the simulated kubelet reads (meshsim.kube.controllers.containers):
# "true" makes the app exit each time it starts, so the pod sits in CrashLoopBackOff.
CRASHLOOP = CRASH_LOOP


def job_spec(name: str, image: str, *, run_seconds: float | None = None,
             quits_proxy: bool = False, exit_code: int = 0, restart_policy: str = "Never",
             labels: dict[str, str] | None = None, command: list[str] | None = None) -> Obj:
    """A Job `spec` whose one container is named after the Job (as `kubectl create job`)."""
    notes: dict[str, str] = {}
    if run_seconds is not None:
        notes[RUN_SECONDS] = f"{run_seconds:g}"
    if exit_code:
        notes[EXIT_CODE] = str(exit_code)
    if quits_proxy:
        notes[QUITS_PROXY] = "true"
    container: Obj = {"name": name, "image": image, "resources": {}}
    if command:
        container["command"] = list(command)
    meta: Obj = {}
    if labels:
        meta["labels"] = dict(labels)
    if notes:
        meta["annotations"] = notes
    return {"template": {"metadata": meta, "spec": {"containers": [container],
                                                    "restartPolicy": restart_policy}}}


def job(namespace: str, name: str, image: str, *, run_seconds: float | None = None,
        quits_proxy: bool = False, exit_code: int = 0, completions: int = 1,
        parallelism: int = 1, backoff_limit: int | None = None, restart_policy: str = "Never",
        labels: dict[str, str] | None = None, command: list[str] | None = None) -> Obj:
    spec = job_spec(name, image, run_seconds=run_seconds, quits_proxy=quits_proxy,
                    exit_code=exit_code, restart_policy=restart_policy, labels=labels,
                    command=command)
    spec.update(completions=completions, parallelism=parallelism)
    if backoff_limit is not None:
        spec["backoffLimit"] = backoff_limit
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def cronjob(namespace: str, name: str, schedule: str, image: str, *,
            run_seconds: float | None = None, quits_proxy: bool = False, exit_code: int = 0,
            restart_policy: str = "OnFailure", concurrency_policy: str = "Allow",
            successful_history: int = 3, failed_history: int = 1, suspend: bool = False,
            time_zone: str | None = None, labels: dict[str, str] | None = None,
            command: list[str] | None = None) -> Obj:
    """A CronJob as `kubectl create cronjob` makes it (restartPolicy OnFailure)."""
    spec: Obj = {"schedule": schedule, "concurrencyPolicy": concurrency_policy,
                 "suspend": suspend, "successfulJobsHistoryLimit": successful_history,
                 "failedJobsHistoryLimit": failed_history,
                 "jobTemplate": {"metadata": {"name": name}, "spec": job_spec(
                     name, image, run_seconds=run_seconds, quits_proxy=quits_proxy,
                     exit_code=exit_code, restart_policy=restart_policy, labels=labels,
                     command=command)}}
    if time_zone:
        spec["timeZone"] = time_zone
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def evict(sim: KubeSim, namespace: str, name: str, resource: str = "memory") -> Obj:
    """The kubelet evicts pod `name` under `resource` pressure ("memory" or
    "ephemeral-storage"): Failed, reason Evicted. Returns the pod as written."""
    return evict_pod(sim.store, sim.clock, namespace, name, resource)
