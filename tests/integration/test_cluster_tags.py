"""Revision tags made, listed, retargeted and removed as `istioctl tag` does on AKS (§1.2-1.5),
against the simulated cluster through the real kubernetes client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from bot.kube.tags import same_webhook
from bot.upgrade.cluster_facts import RevisionTag
from bot.upgrade.errors import GiveUp
from meshsim.kube.resources import by_kind
from meshsim.kube.tags import tag_webhook as reference_tag_webhook
from tests.integration.cluster_sim import CANARY, STABLE, SimCluster, running

SYSTEM = "aks-istio-system"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimCluster]:
    with running(tmp_path) as env:
        env.sim.set_revisions([STABLE, CANARY])
        yield env


def mwc(env: SimCluster, name: str) -> dict[str, Any]:
    obj = env.cluster.tags.admission.read_mutating_webhook_configuration(name)
    return env.cluster.io.to_dict(obj)


def tagged(env: SimCluster, tag: str) -> list[dict[str, Any]]:
    found = env.cluster.tags.admission.list_mutating_webhook_configuration(
        label_selector=f"istio.io/tag={tag}").items
    return [env.cluster.io.to_dict(o) for o in found]


def test_set_tag_creates_the_webhook_istioctl_renders_field_by_field(env: SimCluster) -> None:
    change = env.cluster.tags.set("prod-canary", CANARY)

    assert (change.webhook, change.previous, change.changed) == (
        "istio-revision-tag-prod-canary-aks-istio-system", None, True)
    made = mwc(env, change.webhook)
    canonical = mwc(env, f"istio-sidecar-injector-{CANARY}-{SYSTEM}")
    labels = made["metadata"]["labels"]
    assert labels["istio.io/tag"] == "prod-canary" and labels["istio.io/rev"] == CANARY
    assert labels["app"] == "sidecar-injector"
    assert labels["release"] == canonical["metadata"]["labels"].get("release", "istio")
    assert labels["admissions.enforcer/disabled"] == "true"
    assert not [k for k in labels if "operator.istio.io" in k]
    expected_labels = {k: v for k, v in canonical["metadata"]["labels"].items()
                       if k != "app" and "operator.istio.io" not in k}
    assert {k: labels[k] for k in expected_labels} == expected_labels
    assert [w["name"] for w in made["webhooks"]] == [
        "rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io"]
    injector = next(w for w in canonical["webhooks"]
                    if w["name"].endswith("sidecar-injector.istio.io"))
    for hook in made["webhooks"]:
        service = hook["clientConfig"]["service"]
        assert service == {"name": f"istiod-{CANARY}", "namespace": SYSTEM,
                           "path": injector["clientConfig"]["service"]["path"], "port": 443}
        assert hook["clientConfig"]["caBundle"] == injector["clientConfig"]["caBundle"]
        assert (hook["failurePolicy"], hook["sideEffects"]) == ("Fail", "None")
        assert hook["admissionReviewVersions"] == ["v1"]
        rules = [{k: v for k, v in rule.items() if k != "scope"} for rule in hook["rules"]]
        assert rules == [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                          "resources": ["pods"]}]
    ns_hook, obj_hook = made["webhooks"]
    assert ns_hook["namespaceSelector"] == {"matchExpressions": [
        {"key": "istio.io/rev", "operator": "In", "values": ["prod-canary"]},
        {"key": "istio-injection", "operator": "DoesNotExist"}]}
    assert ns_hook["objectSelector"] == {"matchExpressions": [
        {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]}]}
    assert obj_hook["namespaceSelector"] == {"matchExpressions": [
        {"key": "istio.io/rev", "operator": "DoesNotExist"},
        {"key": "istio-injection", "operator": "DoesNotExist"}]}
    assert obj_hook["objectSelector"] == {"matchExpressions": [
        {"key": "sidecar.istio.io/inject", "operator": "NotIn", "values": ["false"]},
        {"key": "istio.io/rev", "operator": "In", "values": ["prod-canary"]}]}


def test_set_tag_matches_meshsims_independent_istioctl_rendering(env: SimCluster) -> None:
    env.cluster.tags.set("prod-canary", CANARY)
    made = mwc(env, "istio-revision-tag-prod-canary-aks-istio-system")
    canonical = env.sim.store.get(by_kind("MutatingWebhookConfiguration"), "",
                                  f"istio-sidecar-injector-{CANARY}-{SYSTEM}")
    want = reference_tag_webhook(canonical, "prod-canary", SYSTEM, ("v1",))

    assert made["metadata"]["name"] == want["metadata"]["name"]
    assert made["metadata"]["labels"] == want["metadata"]["labels"]
    assert made["metadata"]["annotations"] == want["metadata"]["annotations"]
    assert same_webhook(made, want)


def test_setting_a_tag_to_where_it_points_changes_nothing(env: SimCluster) -> None:
    first = env.cluster.tags.set("prod-canary", CANARY)
    version = mwc(env, first.webhook)["metadata"]["resourceVersion"]
    writes = env.requests(verb="update") + env.requests(verb="create")

    again = env.cluster.tags.set("prod-canary", CANARY)
    stable_again = env.cluster.tags.set("prod-stable", STABLE)  # made by istioctl 1.22

    assert not again.changed and not stable_again.changed
    assert mwc(env, first.webhook)["metadata"]["resourceVersion"] == version
    assert env.requests(verb="update") + env.requests(verb="create") == writes


def test_retarget_replaces_the_existing_webhook_keeping_its_name(env: SimCluster) -> None:
    before = tagged(env, "prod-stable")
    assert len(before) == 1
    name = before[0]["metadata"]["name"]

    change = env.cluster.tags.set("prod-stable", CANARY)

    after = tagged(env, "prod-stable")
    assert (change.previous, change.revision, change.changed) == (STABLE, CANARY, True)
    assert [w["metadata"]["name"] for w in after] == [name]
    assert after[0]["metadata"]["labels"]["istio.io/rev"] == CANARY
    canary_ca = mwc(env, f"istio-sidecar-injector-{CANARY}-{SYSTEM}")["webhooks"][0][
        "clientConfig"]["caBundle"]
    for hook in after[0]["webhooks"]:
        assert hook["clientConfig"]["service"]["name"] == f"istiod-{CANARY}"
        assert hook["clientConfig"]["caBundle"] == canary_ca
    assert env.cluster.tags.revision_of("prod-stable") == CANARY


def test_retarget_finds_a_tag_by_label_whatever_its_name(env: SimCluster) -> None:
    odd = tagged(env, "prod-stable")[0]
    env.cluster.tags.admission.delete_mutating_webhook_configuration(odd["metadata"]["name"])
    odd["metadata"] = {"name": "hand-made-stable-tag", "labels": odd["metadata"]["labels"]}
    env.cluster.tags.admission.create_mutating_webhook_configuration(cast(Any, odd))

    env.cluster.tags.set("prod-stable", CANARY)

    assert [w["metadata"]["name"] for w in tagged(env, "prod-stable")] == ["hand-made-stable-tag"]


def test_tag_named_like_a_revision_is_refused_with_istioctls_message(env: SimCluster) -> None:
    with pytest.raises(GiveUp) as refused:
        env.cluster.tags.set(STABLE, CANARY)

    assert refused.value.message == (f'cannot create revision tag "{STABLE}": found existing '
                                     "control plane revision with same name")
    assert tagged(env, STABLE) == []


def test_tag_for_a_revision_that_is_not_installed_gives_up(env: SimCluster) -> None:
    missing = 'cannot find MutatingWebhookConfiguration with revision "asm-1-24"'
    with pytest.raises(GiveUp, match=missing):
        env.cluster.tags.set("prod-next", "asm-1-24")


def test_existing_tag_without_overwrite_is_refused(env: SimCluster) -> None:
    exists = 'revision tag "prod-stable" already exists, and --overwrite is false'
    with pytest.raises(GiveUp, match=exists):
        env.cluster.tags.set("prod-stable", CANARY, overwrite=False)


def test_tag_list_shows_tags_with_their_namespaces_like_istioctl(env: SimCluster) -> None:
    env.cluster.tags.set("prod-canary", CANARY)
    env.cluster.namespaces.relabel("payments", "prod-canary")

    assert env.cluster.tags.list_tags() == (
        RevisionTag("prod-stable", STABLE, ("catalog", "frontend")),
        RevisionTag("prod-canary", CANARY, ("payments",)),
    )
    env.cluster.tags.remove("prod-canary")
    rows = env.cluster.tags.list_tags()
    assert RevisionTag("", CANARY, ()) in rows and len(rows) == 2


def test_remove_tag_deletes_its_webhooks_and_names_namespaces_left(env: SimCluster) -> None:
    env.cluster.tags.set("prod-canary", CANARY)
    env.cluster.namespaces.relabel("payments", "prod-canary")

    removed = env.cluster.tags.remove("prod-canary")

    assert removed.deleted == ("istio-revision-tag-prod-canary-aks-istio-system",)
    assert removed.namespaces == ("payments",)
    assert tagged(env, "prod-canary") == []
    assert env.cluster.tags.remove("prod-canary").deleted == ()
    with pytest.raises(GiveUp, match="cannot find MutatingWebhookConfiguration for tag"):
        env.cluster.tags.remove("prod-canary", missing_ok=False)
