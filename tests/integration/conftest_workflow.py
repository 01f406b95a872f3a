"""The simulators of a scenario plus a Workflow wired to them the way the engine wires it.

Imported by tests/integration/test_workflow_*.py and tests/e2e/test_engine_*.py. ARM and the
Kubernetes API are reached over real sockets by the real SDK clients that `bot.cli.wiring` builds;
the assertions about the end state read the simulated cluster's own objects, not the bot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.azure.connect import ArmEndpoint
from bot.cli.wiring import build_workflow
from bot.config.settings import BotConfig
from bot.store.repository import Store, create_store
from bot.upgrade.phases import Action
from bot.upgrade.records import Run
from bot.workflow.runner import Workflow
from bot.workflow.steps import StepResult, Wait
from meshsim.arm.calls import ArmCall
from meshsim.kube.cluster import KubeSim
from meshsim.kube.resources import by_kind
from meshsim.sim import RESOURCE_GROUP, SUBSCRIPTION, MeshSim
from tests.sim_bot import sim_arm

CLUSTER = "aks-sandbox"
OLD, NEW = "asm-1-22", "asm-1-23"
SPEED = 100.0  # 30 simulated seconds of an ARM operation take 0.3 s
APPROVER, REQUESTER = "U0APPROVER", "U0REQUESTER"
ADDON = ("aks-istio-system", "aks-istio-ingress", "aks-istio-egress")
POD, MWC = by_kind("Pod"), by_kind("MutatingWebhookConfiguration")
NAMESPACE, DEPLOYMENT = by_kind("Namespace"), by_kind("Deployment")
CONFIGMAP = by_kind("ConfigMap")


def cluster_config(sim: MeshSim, **overrides: Any) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": CLUSTER, "subscription_id": SUBSCRIPTION, "resource_group": RESOURCE_GROUP,
        "cluster_name": CLUSTER, "channel": "C0123ABCD",
        "access": {"mode": "kubeconfig", "kubeconfig": str(sim.kubeconfig), "context": CLUSTER},
        "approvals": {"default": {"users": [APPROVER]}},
        "soak_time": "1s", "restart": {"max_concurrency": 5, "progress_timeout": "2s"}}
    cluster.update(overrides)
    return cluster


def arm_endpoint(sim: MeshSim) -> ArmEndpoint:
    return sim_arm(sim.describe())


def write_config(sim: MeshSim, path: Path, database: Path, **overrides: Any) -> Path:
    data = {"database_url": f"sqlite:///{database}", "clusters": [cluster_config(sim, **overrides)]}
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class Env:
    sim: MeshSim
    workflow: Workflow
    store: Store

    @property
    def kube(self) -> KubeSim:
        return self.sim.clusters[CLUSTER]

    def start(self, to: str | None = None) -> Run:
        return self.workflow.request(CLUSTER, Action.START, REQUESTER, to=to)

    def approve(self, run_id: int, action: Action) -> Run:
        run = self.store.get_run(run_id)
        return self.workflow.approve(run_id, action, APPROVER, run.version)

    def drive(self, run_id: int, deadline: float = 30.0) -> StepResult:
        return run_until_blocked(self.workflow, run_id, max_sleep=0.1, deadline=deadline)

    def through(self, run_id: int, *actions: Action) -> StepResult:
        """Approve each action in turn, driving the run after each one."""
        result = self.drive(run_id)
        for action in actions:
            assert result.wait in (Wait.APPROVAL, Wait.PERSON), result
            self.approve(run_id, action)
            result = self.drive(run_id)
        return result

    def arm_state(self) -> dict[str, Any]:
        return self.sim.arm.cluster_state(SUBSCRIPTION, RESOURCE_GROUP, CLUSTER)

    def accepted_puts(self) -> list[ArmCall]:
        return [c for c in self.sim.arm.calls("PUT", "/managedClusters/")
                if c.status is not None and c.status < 300]


@contextmanager
def workflow_env(tmp_path: Path, scenario: str = "bookinfo", **overrides: Any) -> Iterator[Env]:
    with MeshSim(scenario, speed=SPEED, workdir=tmp_path / "sim") as sim:
        config = BotConfig.model_validate({"database_url": "sqlite://",
                                           "clusters": [cluster_config(sim, **overrides)]})
        store = create_store(f"sqlite:///{tmp_path / 'bot.db'}")
        yield Env(sim, build_workflow(config, store, arm_endpoint(sim)), store)
        store.close()


# --- what the simulated cluster holds ----------------------------------------------------------


def pod_sidecars(kube: KubeSim) -> list[tuple[str, str, str | None, str | None]]:
    """(namespace, pod, revision, istio-proxy image) of every injected workload pod."""
    out = []
    for pod in kube.store.list(POD):
        meta = pod["metadata"]
        status = (meta.get("annotations") or {}).get("sidecar.istio.io/status")
        if status is None or meta["namespace"] in ADDON or meta.get("deletionTimestamp"):
            continue
        image = next((c["image"] for c in pod["spec"].get("containers", [])
                      if c["name"] == "istio-proxy"), None)
        out.append((meta["namespace"], meta["name"], json.loads(status).get("revision"), image))
    return out


def injector_image(kube: KubeSim, revision: str) -> str:
    cm = kube.store.get(CONFIGMAP, "aks-istio-system", f"istio-sidecar-injector-{revision}")
    return str(json.loads(cm["data"]["values"])["global"]["proxy"]["image"])


def tags(kube: KubeSim) -> dict[str, str]:
    return {m["metadata"]["labels"]["istio.io/tag"]: m["metadata"]["labels"]["istio.io/rev"]
            for m in kube.store.list(MWC) if "istio.io/tag" in (m["metadata"].get("labels") or {})}


def namespace_labels(kube: KubeSim) -> dict[str, str]:
    return {n["metadata"]["name"]: n["metadata"]["labels"]["istio.io/rev"]
            for n in kube.store.list(NAMESPACE) if "istio.io/rev" in n["metadata"]["labels"]}


def control_plane_objects(kube: KubeSim, revision: str) -> list[str]:
    return [d["metadata"]["name"] for d in kube.store.list(DEPLOYMENT)
            if d["metadata"]["name"].endswith(f"-{revision}")
            and d["metadata"]["namespace"] in ADDON]


def assert_only_on(env: Env, keep: str, gone: str) -> None:
    """The end state of a finished run: everything on `keep`, nothing left of `gone`."""
    kube = env.kube
    assert env.arm_state()["revisions"] == [keep]
    assert env.arm_state()["applied"] == [keep]
    sidecars = pod_sidecars(kube)
    assert sidecars, "the scenario has injected pods"
    image = injector_image(kube, keep)
    assert [s for s in sidecars if s[2] != keep or s[3] != image] == []
    assert gone not in tags(kube).values()
    assert "prod-canary" not in tags(kube)
    assert [ns for ns, label in namespace_labels(kube).items()
            if label == gone or tags(kube).get(label) == gone] == []
    assert control_plane_objects(kube, gone) == []
    assert kube.store.find(CONFIGMAP, "aks-istio-system", f"istio-shared-configmap-{gone}") is None


def run_until_blocked(workflow: Workflow, run_id: int, *, max_sleep: float = 1.0,
                      deadline: float = 60.0) -> StepResult:
    """Advance until the run waits for a person, an approval or its end (the tests' driver;
    the bot's scheduler does the same one tick at a time)."""
    stop = time.monotonic() + deadline
    while True:
        result = workflow.advance(run_id)
        if result.wait in (Wait.APPROVAL, Wait.PERSON, Wait.DONE) or time.monotonic() > stop:
            return result
        if result.wait is not Wait.NO:
            time.sleep(min(result.delay, max_sleep))
