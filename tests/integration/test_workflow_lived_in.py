"""Whole runs on a lived-in cluster (bookinfo plus what real clusters hold): a running Job pod
is named in the plan and holds Complete with what to do, never restarted; an egress gateway
must exist for both revisions before Roll is offered, and a run whose removed revision left a
gateway behind says so instead of claiming success."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.upgrade.errors import GateRefused
from bot.upgrade.phases import Action, Phase
from bot.workflow.steps import Wait
from meshsim.kube.resources import by_kind
from tests.integration.conftest_workflow import (
    CLUSTER,
    NEW,
    OLD,
    Env,
    assert_only_on,
    pod_sidecars,
    workflow_env,
)

POD, DEPLOYMENT = by_kind("Pod"), by_kind("Deployment")
EGRESS = "aks-istio-egress"
JOB_POD = "report-29012345-x7k2p"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with workflow_env(tmp_path) as e:
        yield e


def job_pod(namespace: str, name: str, job: str) -> dict[str, Any]:
    """The pod of Job `job` (made by a CronJob), as the Job controller would create it."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"job-name": job, "batch.kubernetes.io/job-name": job},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": job, "uid": f"uid-{job}",
                                              "controller": True}]},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "report", "image": "contoso.azurecr.io/report:1"}]}}


def test_a_running_job_pod_is_named_and_holds_complete_until_it_is_gone(env: Env) -> None:
    env.kube.create(job_pod("default", JOB_POD, "report-29012345"))
    env.kube.settle()

    plan = env.workflow.plan(CLUSTER)

    assert all(w.name != "report-29012345" for wave in plan.waves for w in wave)
    assert any(n.startswith("job/report-29012345 -n default: 1 running Job pod on asm-1-22 "
                            "cannot be rolled out: wait for the Job to finish, or delete the "
                            "pod (the next run of CronJob report gets the new sidecar)")
               for n in plan.notes)
    run = env.start()
    env.through(run.id, Action.START, Action.ROLL)
    assert [s[2] for s in pod_sidecars(env.kube) if s[1] == JOB_POD] == [OLD]  # not restarted
    with pytest.raises(GateRefused) as refused:
        env.approve(run.id, Action.COMPLETE)
    assert refused.value.remaining[0].startswith(
        "job/report-29012345 -n default: 1 running Job pod on asm-1-22 would lose its control "
        "plane: wait for the Job to finish, or delete the pod")
    assert "goes when its Job finishes or the pod is deleted" in refused.value.hint
    assert not env.workflow.check(run.id).complete_enabled

    env.kube.store.delete(POD, "default", JOB_POD)  # the Job finished and its pod was removed
    result = env.through(run.id, Action.COMPLETE)

    assert result.phase == Phase.COMPLETED
    assert_only_on(env, keep=NEW, gone=OLD)


def egress_gateway(env: Env, revision: str) -> None:
    labels = {"app": "eg1", "istio": "eg1", "istio.io/rev": revision}
    env.kube.create({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"eg1-{revision}", "namespace": EGRESS, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": {**labels,
                                                      "sidecar.istio.io/inject": "false"}},
                              "spec": {"containers": [{"name": "istio-proxy",
                                                       "image": "proxyv2"}]}}}})


def resume(env: Env, run_id: int) -> None:
    run = env.store.get_run(run_id)
    env.workflow.resume(run_id, "U0ONCALL", run.version)


def test_both_planes_with_their_egress_gateways_before_roll_and_none_left_after(env: Env
                                                                               ) -> None:
    env.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": EGRESS}})
    egress_gateway(env, OLD)
    env.kube.settle()
    run = env.start()

    waiting = env.through(run.id, Action.START)

    assert waiting.wait is Wait.PERSON and waiting.phase == Phase.STARTING
    paused = env.store.get_run(run.id)
    assert paused.pause_reason is not None
    assert "no gateway eg1-asm-1-23 in aks-istio-egress yet" in paused.pause_reason
    egress_gateway(env, NEW)
    resume(env, run.id)
    ready = env.drive(run.id)
    assert ready.phase == Phase.CANARY_READY and Action.ROLL in ready.actions

    # The add-on removes istiod and the ingress gateways of asm-1-22, not this gateway.
    done = env.through(run.id, Action.ROLL, Action.COMPLETE)

    assert done.phase == Phase.COMPLETING and done.wait is Wait.PERSON
    reason = env.store.get_run(run.id).pause_reason or ""
    assert "eg1-asm-1-22 in aks-istio-egress is still there" in reason
    env.kube.store.delete(DEPLOYMENT, EGRESS, f"eg1-{OLD}")
    resume(env, run.id)
    assert env.drive(run.id).phase == Phase.COMPLETED
