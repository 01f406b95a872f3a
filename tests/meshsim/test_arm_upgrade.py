"""The RP's revision rules through the real SDK: start, complete and rollback as
`az aks mesh upgrade` does them (GET, change the revisions, PUT the whole cluster), and the
400s and 409 that guard them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
from azure.core.polling import LROPoller
from azure.core.rest import HttpResponse
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.containerservice.models import ManagedCluster

from meshsim.catalogue import default_catalogue
from tests.meshsim.arm_env import NAME, RG, SLOW_OPERATION, SUB, arm_env, arm_error

CANARY = ["asm-1-22", "asm-1-23"]


def put_revisions(
    client: ContainerServiceClient, revisions: list[str]
) -> LROPoller[ManagedCluster]:
    """What the CLI does: a full GET, the new revisions, a PUT of the whole ManagedCluster."""
    mc = client.managed_clusters.get(RG, NAME)
    mc.service_mesh_profile.istio.revisions = revisions
    return client.managed_clusters.begin_create_or_update(RG, NAME, mc)


def rejected(client: ContainerServiceClient, revisions: list[str]) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as caught:
        put_revisions(client, revisions)
    return caught.value


def test_start_shows_updating_then_applies_the_canary_when_the_operation_ends(
    tmp_path: Path,
) -> None:
    with arm_env(tmp_path, operation_seconds=SLOW_OPERATION) as env:
        client = env.client()
        mc = client.managed_clusters.get(RG, NAME)
        mc.service_mesh_profile.istio.revisions.append("asm-1-23")
        poller = client.managed_clusters.begin_create_or_update(RG, NAME, mc)
        during = client.managed_clusters.get(RG, NAME)
        applied_during = list(env.revisions)
        done = poller.result()
        puts = env.arm.calls("PUT")
    assert during.provisioning_state == "Updating"
    assert during.service_mesh_profile.istio.revisions == CANARY
    assert applied_during == []
    assert done.provisioning_state == "Succeeded"
    assert done.service_mesh_profile.istio.revisions == CANARY
    assert env.revisions == [CANARY]
    assert [(c.path.endswith(NAME), c.status) for c in puts] == [(True, 200)]


def test_put_answers_200_with_the_goal_and_an_absolute_async_operation_url(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        client = env.client()
        mc = client.managed_clusters.get(RG, NAME)
        mc.service_mesh_profile.istio.revisions.append("asm-1-23")
        raw_response = client.managed_clusters.begin_create_or_update(
            RG, NAME, mc, polling=False, cls=lambda response, *_: response.http_response
        ).result()
    status_url = raw_response.headers["Azure-AsyncOperation"]
    assert raw_response.status_code == 200
    assert "Location" not in raw_response.headers
    assert status_url.startswith(env.base_url + f"/subscriptions/{SUB}/providers/")
    assert "/operations/" in status_url and "api-version=2016-03-30" in status_url
    body = raw_response.json()["properties"]
    assert body["provisioningState"] == "Updating"
    assert body["serviceMeshProfile"]["istio"]["revisions"] == CANARY


def test_complete_keeps_only_the_new_revision(tmp_path: Path) -> None:
    with arm_env(tmp_path, revisions=CANARY) as env:
        done = put_revisions(env.client(), ["asm-1-23"]).result()
    assert done.service_mesh_profile.istio.revisions == ["asm-1-23"]
    assert env.revisions == [["asm-1-23"]]


def test_rollback_keeps_only_the_old_revision(tmp_path: Path) -> None:
    with arm_env(tmp_path, revisions=CANARY) as env:
        done = put_revisions(env.client(), ["asm-1-22"]).result()
    assert done.service_mesh_profile.istio.revisions == ["asm-1-22"]
    assert env.revisions == [["asm-1-22"]]


def test_put_while_an_operation_runs_is_409_operation_not_allowed(tmp_path: Path) -> None:
    with arm_env(tmp_path, operation_seconds=SLOW_OPERATION) as env:
        client = env.client()
        poller = put_revisions(client, CANARY)
        with pytest.raises(ResourceExistsError) as caught:
            put_revisions(client, CANARY)
        poller.result()
    status, code, message = arm_error(caught.value)
    assert (status, code) == (409, "OperationNotAllowed")
    assert "in progress update managed cluster operation" in message
    response = caught.value.response
    assert isinstance(response, HttpResponse)
    assert "Retry-After" not in response.headers  # else the SDK would retry it
    assert [c.status for c in env.arm.calls("PUT")] == [200, 409]
    assert env.revisions == [CANARY]


@pytest.mark.parametrize("revision", ["asm-1-99", "asm-1-21"])
def test_unknown_or_unsupported_revision_is_400(tmp_path: Path, revision: str) -> None:
    with arm_env(tmp_path) as env:
        error = rejected(env.client(), ["asm-1-22", revision])
        state = env.arm.cluster_state(SUB, RG, NAME)
    assert arm_error(error)[:2] == (400, "BadRequest")
    assert arm_error(error)[2] == (
        "Requested change in revisions is not allowed. Reason: "
        f"Revision {revision} is not supported by the service mesh add-on."
    )
    assert state["revisions"] == ["asm-1-22"] and state["provisioningState"] == "Succeeded"
    assert env.revisions == []


def test_skipping_past_the_allowed_upgrades_is_400(tmp_path: Path) -> None:
    # July 2025: asm-1-22 is out of support, so only the lowest supported (asm-1-24) is allowed
    with arm_env(tmp_path, catalogue=default_catalogue(date(2025, 7, 20))) as env:
        error = rejected(env.client(), ["asm-1-22", "asm-1-25"])
    status, _, message = arm_error(error)
    assert status == 400
    assert "Revision asm-1-25 is not a valid upgrade from asm-1-22" in message


def test_revision_incompatible_with_the_cluster_version_is_400(tmp_path: Path) -> None:
    with arm_env(tmp_path, kubernetes_version="1.27.9") as env:
        error = rejected(env.client(), ["asm-1-22", "asm-1-24"])
    status, _, message = arm_error(error)
    assert status == 400
    assert message.startswith(
        "Service mesh revision asm-1-24 is not compatible with cluster version 1.27.9."
    )


@pytest.mark.parametrize(
    ("revisions", "message"),
    [
        (["asm-1-22", "asm-1-23", "asm-1-24"], "exceeds maximum allowed number of revisions (2)"),
        ([], "ServiceMeshProfile revision field must not be empty"),
        (["asm-1-23"], "Revision asm-1-22 must stay installed"),
        (["asm-1-22", "asm-1-21"], "Revision asm-1-21 is not supported"),
    ],
)
def test_other_revision_changes_are_400(tmp_path: Path, revisions: list[str], message: str) -> None:
    with arm_env(tmp_path) as env:
        error = rejected(env.client(), revisions)
    assert arm_error(error)[0] == 400
    assert message in arm_error(error)[2]


def test_a_second_canary_during_a_canary_is_400(tmp_path: Path) -> None:
    with arm_env(tmp_path, revisions=CANARY) as env:
        error = rejected(env.client(), ["asm-1-23", "asm-1-24"])
    status, _, message = arm_error(error)
    assert status == 400
    assert "maximum allowed number of revisions (2)" in message


def test_stale_etag_is_412(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        client = env.client()
        stale = client.managed_clusters.get(RG, NAME)
        put_revisions(client, CANARY).result()
        stale.service_mesh_profile.istio.revisions = ["asm-1-22"]
        with pytest.raises(ResourceModifiedError) as caught:
            client.managed_clusters.begin_create_or_update(
                RG, NAME, stale, etag=stale.e_tag, match_condition=MatchConditions.IfNotModified
            )
    assert caught.value.status_code == 412
    assert env.revisions == [CANARY]
