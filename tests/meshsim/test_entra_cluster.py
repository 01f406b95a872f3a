"""An Entra ID AKS cluster in meshsim (scenario `entra`), as AKS presents one: ARM shows
`aadProfile` and refuses the admin credential, the user kubeconfig runs kubelogin, and the API
server takes only the tenant's tokens for the AKS server application, then Azure RBAC."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.containerservice import ContainerServiceClient
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from meshsim.entra import AKS_SERVER_APP
from meshsim.sim import MeshSim
from tests.meshsim.arm_env import NAME, RG, arm_env
from tests.sim_bot import client_secret_credential, credential

CLUSTER = "aks-sandbox"
AKS_SCOPE = f"{AKS_SERVER_APP}/.default"
READER = "Azure Kubernetes Service RBAC Reader"
WRITER = "Azure Kubernetes Service RBAC Writer"
DENIED = ("User does not have access to the resource in Azure. Update role assignment to allow "
          "access.")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSim]:
    with MeshSim("entra", 20.0, tmp_path_factory.mktemp("entra")) as running:
        yield running


@pytest.fixture(scope="module")
def described(sim: MeshSim) -> dict[str, Any]:
    return sim.describe()


def arm(described: dict[str, Any]) -> ContainerServiceClient:
    c = described["clusters"][0]
    return ContainerServiceClient(credential(described), c["subscription_id"],
                                  base_url=described["arm"]["url"], retry_total=0,
                                  connection_verify=described["arm"]["ca_file"])


def api(described: dict[str, Any], token: str) -> kube.ApiClient:
    cfg = kube.Configuration()
    cfg.host, cfg.ssl_ca_cert = described["clusters"][0]["kube_url"], described["arm"]["ca_file"]
    cfg.api_key = {"authorization": f"Bearer {token}"}
    return kube.ApiClient(cfg)


def someone_else(sim: MeshSim, described: dict[str, Any], name: str) -> tuple[str, str]:
    """A new principal of the tenant, with no role yet: its object id and an AKS token."""
    app = sim.arm.entra.tenant.register(name, f"{name}-secret")
    entra = described["entra"]
    cred: ClientSecretCredential = client_secret_credential(
        entra["authority_host"], entra["tenant_id"], app.client_id, f"{name}-secret",
        entra["ca_file"])
    return app.object_id, cred.get_token(AKS_SCOPE).token


def control(described: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(described["entra"]["authority_host"] + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=_context(described), timeout=10) as response:
        return json.loads(response.read())


def test_arm_shows_entra_id_azure_rbac_and_local_accounts_disabled(
        described: dict[str, Any]) -> None:
    c = described["clusters"][0]
    assert c["entra"] and c["kube_url"].startswith("https://")
    mc = arm(described).managed_clusters.get(c["resource_group"], CLUSTER)
    assert mc.aad_profile.managed and mc.aad_profile.enable_azure_rbac
    assert mc.aad_profile.tenant_id == described["entra"]["tenant_id"]
    assert mc.disable_local_accounts is True
    assert mc.oidc_issuer_profile.enabled and "oic.prod-aks.azure.com" in \
        mc.oidc_issuer_profile.issuer_url


def test_the_admin_credential_is_refused_as_aks_refuses_it(described: dict[str, Any]) -> None:
    with pytest.raises(HttpResponseError) as caught:
        arm(described).managed_clusters.list_cluster_admin_credentials("rg-mesh", CLUSTER)
    assert caught.value.status_code == 400 and caught.value.error is not None
    assert caught.value.error.code == "BadRequest"
    assert caught.value.error.message == ("Getting static credential is not allowed because "
                                          "this cluster is set to disable local accounts.")


def test_the_user_kubeconfig_runs_kubelogin_for_the_aks_server_app(
        described: dict[str, Any]) -> None:
    clusters = arm(described).managed_clusters
    exec_config = yaml.safe_load(clusters.list_cluster_user_credentials(
        "rg-mesh", CLUSTER).kubeconfigs[0].value)
    legacy = yaml.safe_load(clusters.list_cluster_user_credentials(
        "rg-mesh", CLUSTER, format="azure").kubeconfigs[0].value)
    plugin = exec_config["users"][0]["user"]["exec"]
    assert plugin["command"] == "kubelogin" and plugin["provideClusterInfo"] is False
    assert plugin["args"] == ["get-token", "--environment", "AzurePublicCloud", "--server-id",
                              AKS_SERVER_APP, "--client-id",
                              "80faf920-1908-4b52-b5ef-a8e7bedfc67a", "--tenant-id",
                              described["entra"]["tenant_id"], "--login", "devicecode"]
    assert "kubelogin is not installed" in plugin["installHint"]
    ca = base64.b64decode(exec_config["clusters"][0]["cluster"]["certificate-authority-data"])
    assert ca.decode() == Path(described["arm"]["ca_file"]).read_text()
    provider = legacy["users"][0]["user"]["auth-provider"]
    assert provider["name"] == "azure" and provider["config"]["apiserver-id"] == AKS_SERVER_APP


def test_the_api_server_takes_only_tokens_for_the_aks_server_app(
        described: dict[str, Any]) -> None:
    bot = credential(described)
    with pytest.raises(ApiException) as caught:
        kube.CoreV1Api(api(described, bot.get_token("https://management.azure.com/.default")
                           .token)).list_namespaced_pod("default")
    assert caught.value.status == 401
    assert json.loads(caught.value.body)["reason"] == "Unauthorized"
    pods = kube.CoreV1Api(api(described, bot.get_token(AKS_SCOPE).token)).list_namespaced_pod(
        "aks-istio-system")
    assert any(p.metadata.name.startswith("istiod-asm-1-22-") for p in pods.items)
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(described["clusters"][0]["kube_url"] + "/api/v1/namespaces",
                               context=_context(described), timeout=10)
    assert anonymous.value.code == 401
    with urllib.request.urlopen(described["clusters"][0]["kube_url"] + "/healthz",
                                context=_context(described), timeout=10) as health:
        assert health.read() == b"ok"  # system:public-info-viewer


def test_azure_rbac_denies_a_principal_without_a_role_then_follows_its_grants(
        sim: MeshSim, described: dict[str, Any]) -> None:
    oid, token = someone_else(sim, described, "carol-ci")
    core = kube.CoreV1Api(api(described, token))
    with pytest.raises(ApiException) as denied:
        core.list_pod_for_all_namespaces()
    message = json.loads(denied.value.body)["message"]
    assert denied.value.status == 403
    assert message == (f'pods is forbidden: User "{oid}" cannot list resource "pods" in API group'
                       f' "" at the cluster scope: {DENIED}')

    control(described, "POST", "/_sim/entra/role-assignments",
            {"principal": oid, "role": READER, "cluster": CLUSTER})
    assert core.list_pod_for_all_namespaces().items
    with pytest.raises(ApiException) as write:
        core.patch_namespace("payments", {"metadata": {"labels": {"x": "y"}}})
    assert write.value.status == 403 and DENIED in json.loads(write.value.body)["message"]

    control(described, "POST", "/_sim/entra/role-assignments",
            {"principal": oid, "role": WRITER, "cluster": CLUSTER, "namespace": "payments"})
    config = {"metadata": {"name": "from-carol"}, "data": {"k": "v"}}
    core.create_namespaced_config_map("payments", config)
    with pytest.raises(ApiException) as elsewhere:
        core.create_namespaced_config_map("orders", config)
    assert elsewhere.value.status == 403

    revoked = control(described, "DELETE", f"/_sim/entra/role-assignments?principal={oid}")
    assert {a["roleDefinitionName"] for a in revoked["revoked"]} == {READER, WRITER}
    with pytest.raises(ApiException):
        core.list_pod_for_all_namespaces()


def test_a_self_subject_access_review_says_what_azure_rbac_says(
        sim: MeshSim, described: dict[str, Any]) -> None:
    _, token = someone_else(sim, described, "dave-ci")
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}}
    answer = kube.AuthorizationV1Api(api(described, token)).create_self_subject_access_review(
        review)
    assert (answer.status.allowed, answer.status.denied, answer.status.reason) == (
        False, True, DENIED)


def test_kubectl_reaches_the_entra_cluster_through_meshsims_kubeconfig(
        described: dict[str, Any], tmp_path: Path) -> None:
    done = subprocess.run(["kubectl", "--kubeconfig", described["kubeconfig"], "--cache-dir",
                           str(tmp_path), "get", "pods", "-n", "aks-istio-system", "-o",
                           "jsonpath={.items[*].metadata.name}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "istiod-asm-1-22-" in done.stdout


def _context(described: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=described["arm"]["ca_file"])


def test_a_local_account_cluster_still_hands_out_its_admin_and_token_kubeconfigs(
        tmp_path: Path) -> None:
    with arm_env(tmp_path) as env:
        clusters = env.client().managed_clusters
        admin = yaml.safe_load(clusters.list_cluster_admin_credentials(RG, NAME)
                               .kubeconfigs[0].value)
        user = yaml.safe_load(clusters.list_cluster_user_credentials(RG, NAME, format="exec")
                              .kubeconfigs[0].value)
        mc = clusters.get(RG, NAME)
    assert admin["users"][0]["name"] == f"clusterAdmin_{RG}_{NAME}"
    assert "token" in admin["users"][0]["user"] and "token" in user["users"][0]["user"]
    assert mc.disable_local_accounts is False and mc.aad_profile is None
