"""Jobs and CronJobs with the real kubectl and the `kubernetes` client: `kubectl create job`
runs to completion and its pod stays Succeeded, `get` prints what the real printers print,
`wait --for=condition=complete` returns, a CronJob makes `<name>-<minutes>` Jobs on the
simulated clock and keeps only its history, and the registry refuses what the real one does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from meshsim.kube import batch, scenarios
from meshsim.kube.controllers.base import CRONJOB, JOB
from meshsim.kube.controllers.jobs import TRACKING
from meshsim.kube.printers import seconds
from meshsim.kube.store import Obj
from tests.meshsim.kubesim_env import SimEnv, pods, started, wait_for

FAST = 120.0  # sim seconds per real second: a cron minute passes in half a second


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimEnv]:
    with started(tmp_path) as env:
        with env.sim.settled():
            scenarios.namespace(env.sim, "default")
        yield env


@pytest.fixture
def fast(tmp_path: Path) -> Iterator[SimEnv]:
    with started(tmp_path, speed=FAST) as env:
        with env.sim.settled():
            scenarios.namespace(env.sim, "default")
        yield env


def rows(env: SimEnv, *args: str) -> list[list[str]]:
    return [line.split() for line in env.kubectl("get", *args).stdout.splitlines()]


def job(env: SimEnv, name: str) -> Obj:
    return env.sim.store.get(JOB, "default", name)


def test_kubectl_create_job_runs_to_completion_and_the_pod_stays_succeeded(env: SimEnv) -> None:
    env.kubectl("create", "job", "hello", "--image=busybox:1.36")
    done = env.kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=30s")
    assert done.stdout.strip() == "job.batch/hello condition met"
    [pod] = pods(env.sim, "default", "hello-")
    assert pod["status"]["phase"] == "Succeeded"
    assert TRACKING not in (pod["metadata"].get("finalizers") or ())  # counted, released
    [state] = [c["state"] for c in pod["status"]["containerStatuses"]]
    assert state["terminated"]["exitCode"] == 0 and state["terminated"]["reason"] == "Completed"
    header, line = rows(env, "pods")
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert line[:4] == [pod["metadata"]["name"], "0/1", "Completed", "0"]
    header, line = rows(env, "jobs")
    assert header == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert line[:3] == ["hello", "Complete", "1/1"]
    status = job(env, "hello")["status"]
    assert status["succeeded"] == 1 and status["ready"] == 0 and "active" not in status
    assert status["completionTime"] >= status["startTime"]
    assert [c["type"] for c in status["conditions"]] == ["Complete"]  # 1.30: no interim one


def test_job_pods_carry_the_labels_and_owner_the_registry_and_controller_give_them(
        env: SimEnv) -> None:
    env.kubectl("create", "job", "labelled", "--image=busybox:1.36")
    created = job(env, "labelled")
    uid = created["metadata"]["uid"]
    assert created["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert created["spec"]["backoffLimit"] == 6 and created["spec"]["completions"] == 1
    # A Job without labels shows its template's, generated ones included (the docs' `pi`).
    assert created["metadata"]["labels"] == created["spec"]["template"]["metadata"]["labels"]
    [pod] = wait_for(lambda: pods(env.sim, "default", "labelled-"), what="the job's pod")
    labels = pod["metadata"]["labels"]
    assert {k: labels[k] for k in ("batch.kubernetes.io/job-name", "job-name")} == {
        "batch.kubernetes.io/job-name": "labelled", "job-name": "labelled"}
    assert labels["batch.kubernetes.io/controller-uid"] == labels["controller-uid"] == uid
    assert pod["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "Job", "name": "labelled", "uid": uid,
        "controller": True, "blockOwnerDeletion": True}]
    assert pod["metadata"]["generateName"] == "labelled-"


PI = """apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  backoffLimit: 4
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
"""


def test_the_docs_pi_job_applies_and_shows_the_generated_labels(env: SimEnv) -> None:
    manifest = env.kubeconfig.parent / "pi.yaml"
    manifest.write_text(PI)
    assert env.kubectl("apply", "-f", str(manifest)).stdout.strip() == "job.batch/pi created"
    assert env.kubectl("apply", "-f", str(manifest)).stdout.strip() == "job.batch/pi unchanged"
    env.kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=30s")
    header, line = rows(env, "jobs", "--show-labels")
    assert header[-1] == "LABELS"
    uid = job(env, "pi")["metadata"]["uid"]
    assert line[-1] == (f"batch.kubernetes.io/controller-uid={uid},batch.kubernetes.io/"
                        f"job-name=pi,controller-uid={uid},job-name=pi")


def test_a_job_with_parallelism_runs_its_completions_in_waves(env: SimEnv) -> None:
    env.sim.create(batch.job("default", "waves", "busybox", run_seconds=2, completions=4,
                             parallelism=2))
    wait_for(lambda: job(env, "waves")["status"].get("active") == 2, what="two active pods")
    assert len(pods(env.sim, "default", "waves-")) == 2
    env.kubectl("wait", "--for=condition=complete", "job/waves", "--timeout=30s")
    assert [p["status"]["phase"] for p in pods(env.sim, "default", "waves-")] == ["Succeeded"] * 4
    assert rows(env, "job", "waves")[1][2] == "4/4"


def test_failing_pods_are_replaced_until_the_backoff_limit_then_the_job_fails(
        fast: SimEnv) -> None:
    fast.sim.create(batch.job("default", "flaky", "busybox", run_seconds=1, exit_code=3,
                              backoff_limit=1))
    fast.kubectl("wait", "--for=condition=failed", "job/flaky", "--timeout=30s")
    failed = pods(fast.sim, "default", "flaky-")
    assert [p["status"]["phase"] for p in failed] == ["Failed", "Failed"]
    state = failed[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (state["exitCode"], state["reason"]) == (3, "Error")
    status = job(fast, "flaky")["status"]
    assert status["failed"] == 2 and "completionTime" not in status
    [cond] = status["conditions"]
    assert (cond["type"], cond["reason"], cond["message"]) == (
        "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert rows(fast, "job", "flaky")[1][1:3] == ["Failed", "0/1"]
    assert {r[2] for r in rows(fast, "pods")[1:]} == {"Error"}


def test_kubectl_create_cronjob_makes_jobs_named_after_the_scheduled_minute(fast: SimEnv) -> None:
    fast.kubectl("create", "cronjob", "tick", "--image=busybox:1.36", "--schedule=*/1 * * * *")
    wait_for(lambda: fast.sim.store.list(JOB, "default"), timeout=5, what="a scheduled job")
    with fast.sim.store.lock:  # one moment: a run a minute is half a real second here
        status = fast.sim.store.get(CRONJOB, "default", "tick")["status"]
        names = sorted(j["metadata"]["name"] for j in fast.sim.store.list(JOB, "default"))
    assert status["lastScheduleTime"].endswith(":00Z")  # on the minute
    assert names[-1] == f"tick-{int(seconds(status['lastScheduleTime']) // 60)}"
    made = job(fast, names[0])
    assert made["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    template = made["spec"]["template"]["spec"]
    assert (template["restartPolicy"], template["containers"][0]["image"]) == (
        "OnFailure", "busybox:1.36")
    fast.kubectl("wait", "--for=condition=complete", f"job/{names[0]}", "--timeout=30s")
    wait_for(lambda: "lastSuccessfulTime" in _cronjob(fast, "tick")["status"],
             what="lastSuccessfulTime")


def test_a_forbid_cronjob_starts_no_run_while_one_is_active(fast: SimEnv) -> None:
    fast.sim.create(batch.cronjob("default", "long", "* * * * *", "busybox", run_seconds=6000,
                                  concurrency_policy="Forbid"))
    [first] = wait_for(lambda: fast.sim.store.list(JOB, "default"), timeout=5, what="a run")
    header, line = rows(fast, "cronjobs")
    assert header == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE",
                      "AGE"]
    assert line[:9] == ["long", "*", "*", "*", "*", "*", "<none>", "False", "1"]
    minute = seconds(_cronjob(fast, "long")["status"]["lastScheduleTime"])
    wait_for(lambda: fast.sim.clock.now() > minute + 150, what="two more scheduled minutes")
    assert [j["metadata"]["name"] for j in fast.sim.store.list(JOB, "default")] == [
        first["metadata"]["name"]]
    assert [r["name"] for r in _cronjob(fast, "long")["status"]["active"]] == [
        first["metadata"]["name"]]


def test_a_cronjob_keeps_only_its_successful_history_limit(fast: SimEnv) -> None:
    fast.sim.create(batch.cronjob("default", "nightly", "* * * * *", "busybox", run_seconds=1,
                                  successful_history=1))

    def finished_jobs() -> list[str]:
        return sorted(j["metadata"]["name"] for j in fast.sim.store.list(JOB, "default")
                      if j.get("status", {}).get("succeeded"))

    first = wait_for(finished_jobs, timeout=10, what="a first finished run")
    wait_for(lambda: finished_jobs() and finished_jobs() != first, timeout=10,
             what="a second finished run")
    [kept] = finished_jobs()
    assert kept > first[0]  # the newer run stays
    assert not pods(fast.sim, "default", first[0] + "-")  # the older run's pods went with it


def test_the_registry_refuses_what_the_real_one_refuses(env: SimEnv) -> None:
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "always"},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "busybox"}]}}}}
    manifest = env.kubeconfig.parent / "always.json"
    manifest.write_text(json.dumps(body))
    refused = env.kubectl("create", "-f", str(manifest), check=False)
    assert refused.returncode != 0
    assert ('The Job "always" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
            '"Always": supported values: "OnFailure", "Never"') in refused.stderr
    bad = env.kubectl("create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *",
                      check=False)
    assert bad.returncode != 0
    assert ('spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): '
            "61") in bad.stderr


def test_the_python_client_lists_and_reads_jobs_and_cronjobs(env: SimEnv) -> None:
    env.sim.create(batch.job("default", "backup", "busybox", run_seconds=0))
    env.sim.create(batch.cronjob("default", "report", "0 3 * * *", "busybox"))
    api = client.BatchV1Api(env.api())
    wait_for(lambda: api.read_namespaced_job_status("backup", "default").status.succeeded,
             what="the job to succeed")
    listed = api.list_namespaced_job("default", label_selector="job-name=backup")
    assert [j.metadata.name for j in listed.items] == ["backup"]
    assert listed.items[0].status.conditions[0].type == "Complete"
    [cj] = api.list_cron_job_for_all_namespaces().items
    assert (cj.metadata.name, cj.spec.schedule, cj.spec.concurrency_policy) == (
        "report", "0 3 * * *", "Allow")
    api.delete_namespaced_job("backup", "default", propagation_policy="Background")
    wait_for(lambda: not pods(env.sim, "default", "backup-"), what="the job's pods to go")


def _cronjob(env: SimEnv, name: str) -> Obj:
    return dict(json.loads(env.kubectl("get", "cronjob", name, "-o", "json").stdout))
