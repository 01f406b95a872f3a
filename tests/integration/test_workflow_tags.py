"""Revision tags as people leave them: a canary tag from an earlier upgrade done by hand,
serving namespaces in the bot's scope and outside it. The bot moves or removes a tag only as
the approved plan says, by name, and keeps one that namespaces it may not touch still use."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.cli.wiring import build_workflow
from bot.config.settings import BotConfig
from bot.store.repository import create_store
from bot.upgrade.errors import GateRefused, GiveUp
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase
from meshsim.faults import Faults
from meshsim.kube.requestinfo import RequestAttributes, RequestLog
from meshsim.kube.scenarios import deployment, namespace, set_tag
from meshsim.kube.server import make_app
from meshsim.sim import MeshSim
from tests.integration.conftest_workflow import (
    CLUSTER,
    NAMESPACE,
    NEW,
    OLD,
    SPEED,
    Env,
    arm_endpoint,
    cluster_config,
    namespace_labels,
    pod_sidecars,
    tags,
    workflow_env,
)

PARTNER = "partner"  # labelled with the old canary tag, excluded from the bot's scope


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with workflow_env(tmp_path, namespaces={"exclude": [PARTNER]}) as e:
        kube = e.kube
        with kube.settled():
            set_tag(kube, "prod-canary", OLD)
            namespace(kube, PARTNER, {"istio.io/rev": "prod-canary"})
            kube.create(deployment(PARTNER, "partner-api", "contoso.azurecr.io/partner:1.0", 2))
            ns = kube.store.get(NAMESPACE, "", "orders")
            labels = {**ns["metadata"]["labels"], "istio.io/rev": "prod-canary"}
            kube.store.update(NAMESPACE, {**ns, "metadata": {**ns["metadata"], "labels": labels}})
        yield e


def _revisions(env: Env, namespace: str) -> set[str | None]:
    return {rev for ns, _, rev, _ in pod_sidecars(env.kube) if ns == namespace}


def _restart_by_hand(env: Env, namespace: str, name: str) -> None:
    """What the partner team does when the card asks them to."""
    base = ["kubectl", "--kubeconfig", str(env.sim.kubeconfig), "--context", CLUSTER, "-n",
            namespace]
    subprocess.run([*base, "rollout", "restart", f"deployment/{name}"], check=True,
                   capture_output=True, timeout=30)
    subprocess.run([*base, "rollout", "status", f"deployment/{name}", "--timeout=30s"],
                   check=True, capture_output=True, timeout=40)


def test_the_plan_names_the_earlier_canary_tag_and_keeps_it_still_at_start(env: Env) -> None:
    plan = env.workflow.plan(CLUSTER)
    canary = plan.tag_plan("prod-canary")
    assert canary is not None and canary.outside == (PARTNER,) and canary.namespaces == ("orders",)
    assert canary.start is None and canary.follows and "prod-canary" in plan.retag
    assert any("partner (outside scope)" in line for line in plan.tag_lines())
    run = env.start()
    env.through(run.id, Action.START)
    assert tags(env.kube)["prod-canary"] == OLD  # partner's new pods keep getting OLD
    assert _revisions(env, PARTNER) == {OLD}


def test_complete_waits_for_the_partner_then_keeps_the_tag_and_names_them(env: Env) -> None:
    run = env.start()
    env.through(run.id, Action.START, Action.ROLL)
    assert tags(env.kube) == {"prod-stable": NEW, "prod-canary": NEW}
    assert namespace_labels(env.kube)["orders"] == "prod-stable"  # in scope: relabelled
    assert _revisions(env, PARTNER) == {OLD}  # out of scope: never restarted by the bot
    with pytest.raises(GateRefused) as refused:
        env.approve(run.id, Action.COMPLETE)
    assert any("partner-api" in r for r in refused.value.remaining)
    _restart_by_hand(env, PARTNER, "partner-api")
    assert _revisions(env, PARTNER) == {NEW}
    result = env.through(run.id, Action.COMPLETE)
    assert result.phase == Phase.COMPLETED
    assert tags(env.kube) == {"prod-stable": NEW, "prod-canary": NEW}
    assert namespace_labels(env.kube)[PARTNER] == "prod-canary"
    kept = [e for e in env.store.audit_log(run_id=run.id) if e.kind is AuditKind.TAG_KEPT]
    assert len(kept) == 1 and kept[0].detail["namespaces"] == [PARTNER]
    assert "istioctl tag remove prod-canary" in kept[0].detail["command"]
    assert not any(e.kind is AuditKind.TAG_REMOVED for e in env.store.audit_log(run_id=run.id))


def test_rollback_brings_the_kept_tag_back_to_the_old_revision(env: Env) -> None:
    run = env.start()
    env.through(run.id, Action.START, Action.ROLL)
    assert tags(env.kube)["prod-canary"] == NEW
    result = env.through(run.id, Action.ROLLBACK)
    assert result.phase == Phase.ROLLED_BACK, result
    assert tags(env.kube) == {"prod-stable": OLD, "prod-canary": OLD}
    assert _revisions(env, PARTNER) == {OLD}
    kept = [e for e in env.store.audit_log(run_id=run.id) if e.kind is AuditKind.TAG_KEPT]
    assert [e.detail["revision"] for e in kept] == [OLD]


def test_a_rollback_pauses_on_partner_pods_moved_by_hand_and_retry_finishes(env: Env) -> None:
    run = env.start()
    env.through(run.id, Action.START, Action.ROLL)
    _restart_by_hand(env, PARTNER, "partner-api")  # the partner team tried the new revision
    result = env.through(run.id, Action.ROLLBACK)
    assert result.phase == Phase.ROLLING_BACK and "partner-api" in result.did
    assert tags(env.kube)["prod-canary"] == OLD  # moved back before anything was removed
    _restart_by_hand(env, PARTNER, "partner-api")
    result = env.through(run.id, Action.RETRY)
    assert result.phase == Phase.ROLLED_BACK, result
    assert _revisions(env, PARTNER) == {OLD}


def test_an_earlier_canary_tag_used_only_in_scope_is_relabelled_away_then_moves(
        tmp_path: Path) -> None:
    with workflow_env(tmp_path) as env:
        kube = env.kube
        with kube.settled():
            set_tag(kube, "prod-canary", OLD)
            ns = kube.store.get(NAMESPACE, "", "orders")
            labels = {**ns["metadata"]["labels"], "istio.io/rev": "prod-canary"}
            kube.store.update(NAMESPACE, {**ns, "metadata": {**ns["metadata"], "labels": labels}})
        canary = env.workflow.plan(CLUSTER).tag_plan("prod-canary")
        assert canary is not None and canary.relabel_first == ("orders",)
        run = env.start()
        env.through(run.id, Action.START)
        assert namespace_labels(kube)["orders"] == "prod-stable"
        assert tags(kube) == {"prod-stable": OLD, "prod-canary": NEW}
        labelled = [e.what for e in env.store.audit_log(run_id=run.id)
                    if e.kind is AuditKind.NAMESPACE_LABELLED]
        assert labelled == ["kubectl label namespace orders istio.io/rev=prod-stable --overwrite"]


SHIPPED_TAG_NAMES = {f"istio-revision-tag-{t}-aks-istio-system" for t in ("prod-stable",
                                                                          "prod-canary")}


def _as_shipped_rbac(attrs: RequestAttributes) -> bool:
    """deploy/base/rbac.yaml: update and delete on tag webhooks only for the configured tags."""
    if attrs.resource == "mutatingwebhookconfigurations" and attrs.verb in ("update", "delete"):
        return attrs.name in SHIPPED_TAG_NAMES
    return True


def test_a_tag_the_role_does_not_name_is_refused_at_plan_time_not_half_way(
        tmp_path: Path) -> None:
    with MeshSim("bookinfo", speed=SPEED, workdir=tmp_path / "sim") as sim:
        kube = sim.clusters[CLUSTER]
        with kube.settled():
            set_tag(kube, "team-x", OLD)  # a team's own tag on the current revision
        assert sim.loop is not None
        port = sim.loop.serve(make_app(kube.store, Faults(), RequestLog(),
                                       authorizer=_as_shipped_rbac))
        kubeconfig = tmp_path / "rbac-kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "rbac",
            "clusters": [{"name": "rbac", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "bot", "user": {"token": "meshsim-token"}}],
            "contexts": [{"name": "rbac", "context": {"cluster": "rbac", "user": "bot"}}]}))
        access = {"mode": "kubeconfig", "kubeconfig": str(kubeconfig)}
        config = BotConfig.model_validate({"database_url": "sqlite://",
                                           "clusters": [cluster_config(sim, access=access)]})
        store = create_store(f"sqlite:///{tmp_path / 'bot.db'}")
        workflow = build_workflow(config, store, arm_endpoint(sim))
        with pytest.raises(GiveUp) as refused:
            workflow.plan(CLUSTER)
        assert "update mutatingwebhookconfigurations/istio-revision-tag-team-x" in \
            refused.value.message
        assert "resourceNames" in (refused.value.hint or "")
        with pytest.raises(GiveUp):
            workflow.request(CLUSTER, Action.START, "U0REQUESTER")
        assert store.active_run(CLUSTER) is None  # nothing was started, nothing to undo
        store.close()
