"""Optimistic concurrency of the simulated ARM through the real SDK, as AKS does it
(use-etags.md): eTags in the body only, 412 PreConditionFailed for a stale If-Match, and
another tool's writes (tags, a pool's count) through the control endpoint, each renewing
the cluster's and its pools' eTags. A PUT keeps the tags and pool counts it carries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import ManagedCluster

from tests.meshsim.arm_env import (
    NAME,
    RG,
    SLOW_OPERATION,
    SUB,
    ArmEnv,
    arm_env,
    arm_error,
    cluster_path,
    raw,
)

CHANGE = "/_sim/arm/change-cluster"


def change(env: ArmEnv, **spec: Any) -> tuple[int, Any]:
    """Another tool's write, through the control endpoint (no token needed)."""
    status, body, _ = raw(env, "POST", CHANGE, {"name": NAME, **spec}, token=None)
    return status, body


def put_if_match(client: ContainerServiceClient, mc: ManagedCluster) -> ManagedCluster:
    return client.managed_clusters.begin_create_or_update(
        RG, NAME, mc, etag=mc.e_tag, match_condition=MatchConditions.IfNotModified).result()


def pool_etags(mc: ManagedCluster) -> list[str | None]:
    return [p.e_tag for p in mc.agent_pool_profiles or []]


def test_stale_if_match_is_412_precondition_failed_and_changes_nothing(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        client = env.client()
        stale = client.managed_clusters.get(RG, NAME)
        assert change(env, tags={"owner": "platform"})[0] == 200
        stale.service_mesh_profile.istio.revisions.append("asm-1-23")
        with pytest.raises(ResourceModifiedError) as caught:
            put_if_match(client, stale)
        state = env.arm.cluster_state(SUB, RG, NAME)
    status, code, message = arm_error(caught.value)
    assert (status, code) == (412, "PreConditionFailed")
    assert f"'{stale.e_tag}'" in message and f"'{state['eTag']}'" in message
    assert state["revisions"] == ["asm-1-22"] and state["tags"] == {"owner": "platform"}
    assert state["provisioningState"] == "Succeeded" and env.revisions == []
    assert [(c.method, c.status) for c in env.arm.calls()] == [("GET", 200), ("PUT", 412)]


def test_if_match_with_the_current_etag_or_a_star_is_accepted(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        client = env.client()
        mc = client.managed_clusters.get(RG, NAME)
        mc.service_mesh_profile.istio.revisions.append("asm-1-23")
        started = put_if_match(client, mc)
        mc = client.managed_clusters.get(RG, NAME)
        mc.service_mesh_profile.istio.revisions = ["asm-1-23"]
        done = client.managed_clusters.begin_create_or_update(
            RG, NAME, mc, match_condition=MatchConditions.IfPresent).result()  # If-Match: *
    assert started.service_mesh_profile.istio.revisions == ["asm-1-22", "asm-1-23"]
    assert done.service_mesh_profile.istio.revisions == ["asm-1-23"]
    assert [c.status for c in env.arm.calls("PUT")] == [200, 200]


def test_etag_is_in_the_body_only_and_every_put_renews_it(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        client = env.client()
        status, body, headers = raw(env, "GET", cluster_path() + "?api-version=2026-08-01")
        before = client.managed_clusters.get(RG, NAME)
        after = put_if_match(client, before)
    assert status == 200 and body["eTag"] == before.e_tag
    assert all(p["eTag"] for p in body["properties"]["agentPoolProfiles"])
    assert "ETag" not in headers  # AKS's spec declares no ETag response header
    assert after.e_tag != before.e_tag
    assert not set(pool_etags(after)) & set(pool_etags(before))  # cluster-level: pools too


def test_control_endpoint_sets_and_removes_tags_renewing_the_etags(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        client = env.client()
        first = client.managed_clusters.get(RG, NAME)
        set_status, set_state = change(env, tags={"owner": "platform", "cost-centre": "42"})
        tagged = client.managed_clusters.get(RG, NAME)
        removed_status, _ = change(env, tags={"cost-centre": None})
        untagged = client.managed_clusters.get(RG, NAME)
    assert (set_status, removed_status) == (200, 200)
    assert set_state["tags"] == {"owner": "platform", "cost-centre": "42"}
    assert tagged.tags == {"owner": "platform", "cost-centre": "42"}
    assert untagged.tags == {"owner": "platform"}
    assert len({first.e_tag, tagged.e_tag, untagged.e_tag}) == 3
    assert not set(pool_etags(tagged)) & set(pool_etags(first))
    assert [c.method for c in env.arm.calls()] == ["GET", "GET", "GET"]  # control: unrecorded


def test_a_scaled_pool_shows_in_get_and_in_what_the_sdk_puts_back(tmp_path: Path) -> None:
    sent: list[Any] = []
    with arm_env(tmp_path) as env:
        client = env.client()
        before = client.managed_clusters.get(RG, NAME)
        status, state = change(env, agentPoolCounts={"nodepool1": 5})
        mc = client.managed_clusters.get(RG, NAME)
        mc.service_mesh_profile.istio.revisions.append("asm-1-23")
        client.managed_clusters.begin_create_or_update(
            RG, NAME, mc, etag=mc.e_tag, match_condition=MatchConditions.IfNotModified,
            raw_request_hook=lambda request: sent.append(request.http_request)).result()
        after = env.arm.cluster_state(SUB, RG, NAME)
    assert status == 200 and state["agentPoolCounts"] == {"nodepool1": 5}
    assert (before.agent_pool_profiles[0].count, mc.agent_pool_profiles[0].count) == (3, 5)
    assert state["eTag"] not in (before.e_tag, None) and mc.e_tag == state["eTag"]
    body = json.loads(sent[0].content)
    assert body["properties"]["agentPoolProfiles"][0]["count"] == 5
    assert "eTag" not in body and "eTag" not in body["properties"]["agentPoolProfiles"][0]
    assert sent[0].headers["If-Match"] == f'"{mc.e_tag}"'
    assert after["agentPoolCounts"] == {"nodepool1": 5}
    assert after["revisions"] == ["asm-1-22", "asm-1-23"]


def test_a_put_carrying_a_new_pool_count_and_tags_applies_both(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        client = env.client()
        change(env, tags={"dropped": "yes"})
        mc = client.managed_clusters.get(RG, NAME)
        mc.agent_pool_profiles[0].count = 7
        mc.tags = {"owner": "platform"}
        done = put_if_match(client, mc)
        state = env.arm.cluster_state(SUB, RG, NAME)
    assert done.agent_pool_profiles[0].count == 7 and done.tags == {"owner": "platform"}
    assert state["agentPoolCounts"] == {"nodepool1": 7}
    assert state["tags"] == {"owner": "platform"}  # a PUT's tags replace the cluster's
    assert done.service_mesh_profile.istio.revisions == ["asm-1-22"]
    assert done.network_profile.network_plugin == "azure"  # the rest of the body is still there


@pytest.mark.parametrize(
    ("counts", "status", "code"),
    [
        ({"nodepool1": 0}, 400, "InvalidParameter"),  # a System pool keeps one node at least
        ({"nodepool1": 1001}, 400, "InvalidParameter"),
        ({"nopool": 2}, 400, "BadRequest"),
    ],
)
def test_impossible_pool_counts_are_refused_and_change_nothing(
    tmp_path: Path, counts: dict[str, int], status: int, code: str
) -> None:
    with arm_env(tmp_path) as env:
        before = env.arm.cluster_state(SUB, RG, NAME)
        answered, body = change(env, agentPoolCounts=counts)
        after = env.arm.cluster_state(SUB, RG, NAME)
    assert (answered, body["error"]["code"]) == (status, code)
    assert after == before


def test_a_change_while_an_operation_runs_is_409(tmp_path: Path) -> None:
    with arm_env(tmp_path, operation_seconds=SLOW_OPERATION) as env:
        client = env.client()
        mc = client.managed_clusters.get(RG, NAME)
        mc.service_mesh_profile.istio.revisions.append("asm-1-23")
        poller = client.managed_clusters.begin_create_or_update(RG, NAME, mc)
        status, body = change(env, tags={"owner": "platform"})
        poller.result()
    assert (status, body["error"]["code"]) == (409, "OperationNotAllowed")
    assert env.arm.cluster_state(SUB, RG, NAME)["tags"] == {}


def test_a_change_queued_after_the_next_get_makes_that_readers_put_stale(
        tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        client = env.client()
        queued, _ = change(env, tags={"owner": "platform"}, when="afterNextGet")
        read = client.managed_clusters.get(RG, NAME)
        now = env.arm.cluster_state(SUB, RG, NAME)
        with pytest.raises(ResourceModifiedError):
            put_if_match(client, read)
        fresh = client.managed_clusters.get(RG, NAME)
    assert queued == 202
    assert read.tags == {} and now["tags"] == {"owner": "platform"}
    assert read.e_tag != now["eTag"] == fresh.e_tag
    assert [c.status for c in env.arm.calls("PUT")] == [412]


def test_python_side_changes_the_cluster_like_the_endpoint(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        env.arm.change_cluster(SUB, RG, NAME, tags={"owner": "platform"},
                               pool_counts={"nodepool1": 4})
        mc = env.client().managed_clusters.get(RG, NAME)
    assert mc.tags == {"owner": "platform"} and mc.agent_pool_profiles[0].count == 4
