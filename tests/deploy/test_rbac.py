"""deploy/'s RBAC against what the bot really calls: whole runs on meshsim, request by request.

The flows (complete with tags and with namespace relabels, rollback, patch) run the workflow
with the engine's real Kubernetes client against the simulated API server, whose request log
records each call's verb, group, resource, subresource and namespace. Every request must be
allowed by the roles `kubectl kustomize deploy/` renders, and every rule must have allowed one
of them. Then the same roles are enforced by the simulated API server (403 for anything else)
while an upgrade completes, and the ha overlay's Lease rule while a replica is elected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config as kube_config

from bot.cli.wiring import build_workflow
from bot.config.settings import BotConfig
from bot.kube.lease import ElectionSettings, Elector
from bot.runtime.permissions import KUBERNETES, leader_election
from bot.store.repository import create_store
from bot.upgrade.phases import Action, Phase
from meshsim.kube.cluster import KubeSim
from meshsim.kube.requestinfo import RequestRecord
from meshsim.kube.server import make_app
from meshsim.sim import MeshSim
from tests.deploy.manifests import BOT, HA, Grant, allows, grants, matching, one, render
from tests.integration.conftest_workflow import (
    ADDON,
    CLUSTER,
    OLD,
    SPEED,
    Env,
    arm_endpoint,
    cluster_config,
    workflow_env,
)

Flow = Callable[[Env], None]


def _complete(env: Env) -> None:
    run = env.start()
    env.through(run.id, Action.START, Action.ROLL)
    assert env.workflow.check(run.id).complete_enabled  # the checks: health, census, HPAs
    assert env.through(run.id, Action.COMPLETE).phase == Phase.COMPLETED


def _rollback(env: Env) -> None:
    run = env.start()
    result = env.through(run.id, Action.START, Action.ROLL, Action.ROLLBACK)
    assert result.phase == Phase.ROLLED_BACK


def _patch(env: Env) -> None:
    env.sim.arm.patch_release(OLD, "1.22.6")
    run = env.workflow.request(CLUSTER, Action.RESTART, "U0REQUESTER")
    assert env.through(run.id, Action.RESTART).phase == Phase.PATCH_DONE


# name: (flow, cluster overrides). Without tags, namespaces are relabelled (patch namespaces).
FLOWS: dict[str, tuple[Flow, dict[str, Any]]] = {
    "complete": (_complete, {}),
    "complete-without-tags": (_complete, {"tags": {"use_tags": False}}),
    "rollback": (_rollback, {}),
    "patch": (_patch, {}),
}


def _requests_of_all_flows(tmp_path: Path) -> list[RequestRecord]:
    records: list[RequestRecord] = []
    for name, (flow, overrides) in FLOWS.items():
        with workflow_env(tmp_path / name, **overrides) as env:
            flow(env)
            records += env.kube.request_log.records()
    return records


def _show(request: RequestRecord) -> str:
    sub = f"/{request.subresource}" if request.subresource else ""
    where = request.namespace or "cluster-wide"
    return f"{request.verb} {request.api_group or 'core'}/{request.resource}{sub} ({where})"


def test_every_request_of_whole_runs_is_allowed_and_every_rule_is_used(tmp_path: Path) -> None:
    granted = grants(render())
    requests = _requests_of_all_flows(tmp_path)
    assert len(requests) > 300, "the flows reached the API server"
    denied = sorted({_show(r) for r in requests if not allows(granted, r)})
    assert denied == [], "requests the roles do not allow"
    used = {g for r in requests for g in matching(granted, r)}
    assert sorted(map(str, granted - used)) == [], "rules no flow needed"
    # Cluster-wide only where the bot works cluster-wide or in open-ended (workload)
    # namespaces; what it does only in the add-on's namespaces belongs in a Role there.
    wide = {g for r in requests if not r.namespace or r.namespace not in ADDON
            for g in matching(granted, r) if not g.namespace}
    assert sorted(str(g) for g in granted - wide if not g.namespace) == [], \
        "cluster-wide rules used only in the add-on's namespaces"


def test_the_roles_are_the_permissions_doctor_checks() -> None:
    """bot/runtime/permissions.py drives `doctor`'s SelfSubjectAccessReviews; deploy/ must agree."""
    expected = {Grant(p.namespace, p.group, p.resource, p.verb) for p in KUBERNETES}
    assert grants(render()) == expected
    lease = {Grant(p.namespace, p.group, p.resource, p.verb) for p in leader_election(BOT)}
    assert grants(render(HA)) == expected | lease


def _authorizing_kubeconfig(sim: MeshSim, kube: KubeSim, granted: frozenset[Grant],
                            path: Path) -> Path:
    """A second front door to the simulated cluster that answers 403 outside `granted`."""
    assert sim.loop is not None
    app = make_app(kube.store, kube.faults, kube.request_log,
                   authorizer=lambda attrs: allows(granted, attrs))
    url = f"http://127.0.0.1:{sim.loop.serve(app)}"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": CLUSTER,
        "clusters": [{"name": CLUSTER, "cluster": {"server": url}}],
        "users": [{"name": BOT, "user": {"token": "service-account-token"}}],
        "contexts": [{"name": CLUSTER, "context": {"cluster": CLUSTER, "user": BOT}}]}))
    return path


@contextmanager
def _enforced_env(tmp_path: Path, granted: frozenset[Grant]) -> Iterator[Env]:
    """`workflow_env` with the bot held to `granted` by the simulated API server."""
    with MeshSim("bookinfo", speed=SPEED, workdir=tmp_path / "sim") as sim:
        kubeconfig = _authorizing_kubeconfig(sim, sim.clusters[CLUSTER], granted,
                                             tmp_path / "kubeconfig")
        access = {"mode": "kubeconfig", "kubeconfig": str(kubeconfig), "context": CLUSTER}
        config = BotConfig.model_validate(
            {"database_url": "sqlite://", "clusters": [cluster_config(sim, access=access)]})
        store = create_store(f"sqlite:///{tmp_path / 'bot.db'}")
        yield Env(sim, build_workflow(config, store, arm_endpoint(sim)), store)
        store.close()


def test_an_upgrade_completes_when_the_api_server_enforces_the_roles(tmp_path: Path) -> None:
    with _enforced_env(tmp_path, grants(render())) as env:
        _complete(env)
        log = env.kube.request_log
        assert len(log.records()) > 100
        assert [_show(r) for r in log.records(code=403)] == []


def test_the_ha_lease_rule_is_exactly_what_leader_election_calls(tmp_path: Path) -> None:
    docs = render(HA)
    granted = grants(docs)
    with MeshSim("bookinfo", speed=1.0, workdir=tmp_path / "sim") as sim:
        kube = sim.clusters[CLUSTER]
        kube.create(one(docs, "Namespace"))
        kubeconfig = _authorizing_kubeconfig(sim, kube, granted, tmp_path / "kubeconfig")
        api = kube_config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
        leading = threading.Event()
        settings = ElectionSettings(BOT, "mesh-upgrade-bot-leader", "replica-a", 3, 2.0, 1.0)
        elector = Elector(api, settings, leading.set, lambda: None)
        elector.start()
        try:
            assert leading.wait(10), "the only replica was elected"  # get, then create
        finally:
            elector.stop()  # releases the Lease: get + update
        requests = kube.request_log.records(resource="leases")
    assert requests and [_show(r) for r in requests if r.code == 403] == []
    assert all(r.namespace == BOT for r in requests)
    lease_rules = granted - grants(render())
    assert {g for r in requests for g in matching(granted, r)} == lease_rules
