"""Which namespaces point at which revision (directly or through a tag), relabelling them, and
the istio-injection labels the AKS add-on ignores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from bot.upgrade.errors import GiveUp
from tests.integration.cluster_sim import CANARY, OWN_NAMESPACE, STABLE, SimCluster, running


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimCluster]:
    with running(tmp_path) as env:
        env.sim.set_revisions([STABLE, CANARY])
        env.cluster.namespaces.core.create_namespace(cast(Any, {
            "metadata": {"name": OWN_NAMESPACE, "labels": {"istio.io/rev": STABLE}}}))
        yield env


def test_namespaces_by_revision_resolve_tags(env: SimCluster) -> None:
    assert env.cluster.namespaces.by_revision() == {
        STABLE: ("catalog", "default", "frontend", "monitoring", "orders", "payments")}

    env.cluster.tags.set("prod-stable", CANARY)

    assert env.cluster.namespaces.by_revision() == {
        STABLE: ("default", "monitoring", "orders", "payments"), CANARY: ("catalog", "frontend")}
    frontend = next(n for n in env.cluster.namespaces.injection() if n.name == "frontend")
    assert (frontend.label, frontend.tag) == ("prod-stable", "prod-stable")
    assert frontend.revision == CANARY


def test_relabel_is_a_merge_patch_and_idempotent(env: SimCluster) -> None:
    assert env.cluster.namespaces.relabel("payments", CANARY) is True
    patches = env.requests(verb="patch", resource="namespaces")

    assert env.cluster.namespaces.relabel("payments", CANARY) is False

    assert env.requests(verb="patch", resource="namespaces") == patches == 1
    labels = env.labels("payments")
    assert labels["istio.io/rev"] == CANARY
    assert labels["kubernetes.io/metadata.name"] == "payments"


def test_relabelling_never_touches_the_bots_own_namespace(env: SimCluster) -> None:
    on_stable = [ns.name for ns in env.cluster.namespaces.injection() if ns.label == STABLE]
    moved = [ns for ns in on_stable if env.cluster.namespaces.relabel(ns, CANARY)]

    assert moved == ["default", "monitoring", "orders", "payments"]
    own = env.labels(OWN_NAMESPACE)
    assert own["istio.io/rev"] == STABLE
    with pytest.raises(GiveUp, match="bot's own namespace"):
        env.cluster.namespaces.relabel(OWN_NAMESPACE, CANARY)


def test_istio_injection_labels_the_addon_ignores_are_reported(env: SimCluster) -> None:
    env.cluster.namespaces.core.patch_namespace(
        "orders", {"metadata": {"labels": {"istio-injection": "disabled"}}},
        _content_type="application/merge-patch+json")

    ignored = {i.namespace: i for i in env.cluster.namespaces.ignored_injection_labels()}

    assert set(ignored) == {"legacy", "orders"}
    assert "no default revision" in ignored["legacy"].reason
    assert ignored["orders"].rev_label == STABLE
    assert "takes precedence" in ignored["orders"].reason
    assert "orders" not in env.cluster.namespaces.by_revision()[STABLE]
