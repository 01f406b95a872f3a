"""The simulated ARM's read side through the real azure-mgmt-containerservice client:
mesh upgrade and revision profiles, user credentials, auth, routing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.containerservice.models import MeshRevision, MeshRevisionProfile

from tests.meshsim.arm_env import (
    KUBE_URL,
    LOCATION,
    NAME,
    RG,
    SUB,
    arm_env,
    arm_error,
    cluster_path,
    raw,
)

IN_PROGRESS = "Mesh upgrade is in progress. Please complete or roll back the current upgrade"


def mesh_revisions(profile: MeshRevisionProfile) -> list[MeshRevision]:
    assert profile.properties is not None
    return list(profile.properties.mesh_revisions or [])


def test_get_upgrades_lists_n_plus_1_and_n_plus_2_with_compatibility(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        ops = env.client().managed_clusters
        listed = list(ops.list_mesh_upgrade_profiles(RG, NAME))
        single = ops.get_mesh_upgrade_profile(RG, NAME, "istio")
    assert len(listed) == 1
    assert listed[0].name == "istio"
    assert str(listed[0].id).endswith(f"/managedClusters/{NAME}/meshUpgradeProfiles/istio")
    props = single.properties
    assert props is not None and props.compatible_with is not None
    assert props.revision == "asm-1-22"
    assert props.upgrades == ["asm-1-23", "asm-1-24"]
    names = {c.name: c.versions for c in props.compatible_with}
    assert names["KubernetesOfficial"] == ["1.27", "1.28", "1.29", "1.30"]
    assert "AKSLongTermSupport" in names


def test_get_upgrades_leaves_out_revisions_incompatible_with_the_cluster(tmp_path: Path) -> None:
    with arm_env(tmp_path, kubernetes_version="1.27.9") as env:
        profile = env.client().managed_clusters.get_mesh_upgrade_profile(RG, NAME, "istio")
    assert profile.properties is not None
    assert profile.properties.upgrades == ["asm-1-23"]  # asm-1-24 needs Kubernetes 1.28+


def test_newest_revision_has_no_upgrades(tmp_path: Path) -> None:
    with arm_env(tmp_path, revisions=["asm-1-24"]) as env:
        profile = env.client().managed_clusters.get_mesh_upgrade_profile(RG, NAME, "istio")
    assert profile.properties is not None
    assert profile.properties.revision == "asm-1-24"
    assert profile.properties.upgrades is None


def test_get_upgrades_during_a_canary_is_refused(tmp_path: Path) -> None:
    with arm_env(tmp_path, revisions=["asm-1-22", "asm-1-23"]) as env:
        ops = env.client().managed_clusters
        with pytest.raises(HttpResponseError) as listed:
            list(ops.list_mesh_upgrade_profiles(RG, NAME))
        with pytest.raises(HttpResponseError) as single:
            ops.get_mesh_upgrade_profile(RG, NAME, "istio")
    for error in (listed.value, single.value):
        status, code, message = arm_error(error)
        assert (status, code) == (400, "BadRequest")
        assert IN_PROGRESS in message


def test_revision_profiles_list_supported_revisions(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        ops = env.client().managed_clusters
        listed = list(ops.list_mesh_revision_profiles(LOCATION))
        single = ops.get_mesh_revision_profile(LOCATION, "istio")
    assert len(listed) == 1
    revisions = {r.revision: r for r in mesh_revisions(listed[0])}
    assert list(revisions) == ["asm-1-22", "asm-1-23", "asm-1-24"]  # on the catalogue's SEED_DAY
    assert "asm-1-21" not in revisions  # out of support
    assert revisions["asm-1-22"].upgrades == ["asm-1-23", "asm-1-24"]
    assert revisions["asm-1-24"].upgrades is None
    assert [r.revision for r in mesh_revisions(single)] == list(revisions)


def test_user_credential_is_a_kubeconfig_for_the_simulated_api_server(tmp_path: Path) -> None:
    with arm_env(tmp_path, kube_ca_pem="-----BEGIN CERTIFICATE-----\nx\n") as env:
        result = env.client().managed_clusters.list_cluster_user_credentials(RG, NAME)
        credential = cluster_path() + "/listClusterUserCredential?api-version=1"
        status, body, _ = raw(env, "POST", credential)
    kubeconfigs = result.kubeconfigs or []
    assert [k.name for k in kubeconfigs] == ["clusterUser"]
    config = yaml.safe_load(kubeconfigs[0].value or b"")  # the SDK base64-decodes it
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == KUBE_URL
    assert base64.b64decode(cluster["certificate-authority-data"]).startswith(b"-----BEGIN")
    assert config["current-context"] == NAME and config["users"][0]["user"]["token"]
    assert status == 200
    assert yaml.safe_load(base64.b64decode(body["kubeconfigs"][0]["value"])) == config


def test_calls_without_a_bearer_token_are_401(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        # An authentication policy that adds nothing: the SDK sends no Authorization header.
        anonymous = env.client(authentication_policy=SansIOHTTPPolicy())
        with pytest.raises(ClientAuthenticationError) as caught:
            anonymous.managed_clusters.get(RG, NAME)
        status, body, headers = raw(env, "GET", cluster_path() + "?api-version=1", token=None)
    assert arm_error(caught.value)[:2] == (401, "AuthenticationFailed")
    assert status == 401 and "missing" in body["error"]["message"]
    assert "WWW-Authenticate" in headers
    assert [c.status for c in env.arm.calls()] == [401, 401]


def test_paths_match_in_any_case_with_any_api_version(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        old_api = env.client(api_version="2024-05-01").managed_clusters.get(RG, NAME)
        path = cluster_path().upper().replace(SUB.upper(), SUB) + "?api-version=2019-01-01"
        status, body, _ = raw(env, "GET", path)
        missing, _, _ = raw(env, "GET", cluster_path())
    assert old_api.name == NAME
    assert status == 200 and body["properties"]["serviceMeshProfile"]["mode"] == "Istio"
    assert missing == 400  # ARM requires an api-version


def test_unknown_cluster_is_404(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env, pytest.raises(ResourceNotFoundError) as caught:
        env.client().managed_clusters.get(RG, "no-such-cluster")
    assert arm_error(caught.value)[:2] == (404, "ResourceNotFound")


def test_managed_cluster_body_is_complete(tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        mc = env.client().managed_clusters.get(RG, NAME)
    assert (mc.location, mc.kubernetes_version, mc.current_kubernetes_version) == (
        LOCATION, "1.30.7", "1.30.7")
    assert mc.provisioning_state == "Succeeded" and mc.power_state.code == "Running"
    assert mc.agent_pool_profiles[0].name == "nodepool1"
    mesh = mc.service_mesh_profile
    assert mesh.mode == "Istio" and mesh.istio.revisions == ["asm-1-22"]
    gateways = [(g.mode, g.enabled) for g in mesh.istio.components.ingress_gateways]
    assert gateways == [("External", True), ("Internal", True)]
    assert mc.id == cluster_path().replace("resourceGroups", "resourcegroups")
