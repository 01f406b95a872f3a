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

import pytest
import yaml
from kubernetes import config as kube_config

from bot.cli.wiring import build_workflow
from bot.config.settings import AccessMode, BotConfig, load_config
from bot.kube.lease import ElectionSettings, Elector
from bot.runtime.permissions import KUBERNETES, leader_election
from bot.store.repository import create_store
from bot.upgrade.addon import ISTIO_NAMESPACE
from bot.upgrade.phases import Action, Phase
from meshsim.kube.cluster import KubeSim
from meshsim.kube.requestinfo import RequestRecord
from meshsim.kube.server import make_app
from meshsim.sim import MeshSim
from tests.deploy.manifests import (
    BOT,
    DEPLOY,
    HA,
    Grant,
    allows,
    grants,
    matching,
    one,
    render,
)
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
MWC = "mutatingwebhookconfigurations"
NAMED_VERBS = ("get", "update", "patch", "delete")


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
    named = f" {request.name}" if request.name and request.verb in NAMED_VERBS else ""
    return f"{request.verb} {request.api_group or 'core'}/{request.resource}{sub}{named} ({where})"


def test_every_request_of_whole_runs_is_allowed_and_every_rule_is_used(tmp_path: Path) -> None:
    granted = grants(render())
    requests = _requests_of_all_flows(tmp_path)
    assert len(requests) > 300, "the flows reached the API server"
    denied = sorted({_show(r) for r in requests if not allows(granted, r)})
    assert denied == [], "requests the roles do not allow"
    # A rule with resourceNames is used when a request names one of them; a flow moves or
    # removes only some of the tags, and the names themselves are checked against the
    # configuration in test_the_tag_rules_name_exactly_the_configured_tags.
    rules = {g.any_name() for g in granted}
    used = {g.any_name() for r in requests for g in matching(granted, r)}
    assert sorted(map(str, rules - used)) == [], "rules no flow needed"
    # Cluster-wide only where the bot works cluster-wide or in open-ended (workload)
    # namespaces; what it does only in the add-on's namespaces belongs in a Role there.
    wide = {g.any_name() for r in requests if not r.namespace or r.namespace not in ADDON
            for g in matching(granted, r) if not g.namespace}
    assert sorted(str(g) for g in rules - wide if not g.namespace) == [], \
        "cluster-wide rules used only in the add-on's namespaces"


def test_the_roles_are_the_permissions_doctor_checks() -> None:
    """bot/runtime/permissions.py drives `doctor`'s SelfSubjectAccessReviews; deploy/ must agree."""
    expected = {Grant(p.namespace, p.group, p.resource, p.verb) for p in KUBERNETES}
    assert {g.any_name() for g in grants(render())} == expected
    lease = {Grant(p.namespace, p.group, p.resource, p.verb) for p in leader_election(BOT)}
    assert {g.any_name() for g in grants(render(HA))} == expected | lease


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


def _tag_webhook_names(config: BotConfig) -> set[str]:
    """The webhook configurations `istioctl tag set --istioNamespace aks-istio-system` names
    for the stable and canary tags of every cluster the bot reaches with this RBAC."""
    return {f"istio-revision-tag-{tag}-{ISTIO_NAMESPACE}" for c in config.clusters
            if c.access.mode is AccessMode.IN_CLUSTER and c.tags.use_tags
            for tag in (c.tags.stable, c.tags.canary)}


@pytest.mark.parametrize("path", [DEPLOY, HA], ids=["base", "ha"])
def test_the_tag_rules_name_exactly_the_configured_tags(path: Path, tmp_path: Path) -> None:
    """update and delete on MutatingWebhookConfigurations only for the configured tags' names;
    create and list cannot be narrowed by name, so they stay the only unnamed webhook rules."""
    docs = render(path)
    config_file = tmp_path / "clusters.yaml"
    config_file.write_text(one(docs, "ConfigMap")["data"]["clusters.yaml"])
    expected = _tag_webhook_names(load_config(config_file))
    assert expected, "the rendered configuration has in-cluster tags"
    webhooks = {g for g in grants(docs) if g.resource == MWC}
    for verb in ("update", "delete"):
        assert {g.name for g in webhooks if g.verb == verb} == expected, verb
    assert {g.verb for g in webhooks if not g.name} == {"create", "list"}


def test_the_flows_use_the_tags_the_deployed_configuration_names(tmp_path: Path) -> None:
    """The whole runs above are held to deploy/'s named rules only if they move and remove the
    same tags; and the named rules are what allows their updates and deletes."""
    granted = grants(render())
    with workflow_env(tmp_path / "complete") as env:
        _complete(env)
        tags = env.kube.request_log.records(resource=MWC)
    named = [r for r in tags if r.verb in ("update", "delete")]
    assert {r.verb for r in named} == {"update", "delete"}, "a tag moved and one was removed"
    config_file = tmp_path / "clusters.yaml"
    config_file.write_text(one(render(), "ConfigMap")["data"]["clusters.yaml"])
    assert {r.name for r in named} <= _tag_webhook_names(load_config(config_file))
    for request in named:
        assert {g.name for g in matching(granted, request)} == {request.name}, _show(request)


def test_doctor_asks_for_the_tag_webhooks_by_name_as_the_shipped_roles_grant_them(
        tmp_path: Path) -> None:
    """The shipped roles grant update/delete on tag webhooks by name; doctor's reviews ask by
    name, so they pass for the configured tags and name any other tag's webhook."""
    from kubernetes.config import new_client_from_config

    from bot.kube.access_review import review
    from bot.runtime.permissions import for_tags

    with MeshSim("bookinfo", speed=SPEED, workdir=tmp_path / "sim") as sim:
        kubeconfig = _authorizing_kubeconfig(sim, sim.clusters[CLUSTER], grants(render()),
                                             tmp_path / "kubeconfig")
        api = new_client_from_config(str(kubeconfig), CLUSTER)
        configured = review(api, for_tags(("prod-stable", "prod-canary")))
        assert [str(v.permission) for v in configured if not v.allowed] == []
        other = review(api, for_tags(("prod-stable", "prod-canary", "team-x")))
        assert sorted(str(v.permission) for v in other if not v.allowed) == [
            f"{verb} admissionregistration.k8s.io/mutatingwebhookconfigurations/"
            "istio-revision-tag-team-x-aks-istio-system (cluster-wide)"
            for verb in ("delete", "update")]
