"""The JSON ARM answers with: a ManagedCluster, mesh profiles, and the user kubeconfig.

Shapes follow the real responses quoted in aks-arm.md §2 ("JSON shapes") so the hybrid models
of azure-mgmt-containerservice 41.x read them as they read Azure's. Read-only fields are
included (the SDK drops them again when it PUTs the body back).
"""

from __future__ import annotations

import base64
import copy
import hashlib

import yaml

from meshsim.arm.rp import JSON, Cluster, is_supported
from meshsim.catalogue import Catalogue, RevisionInfo

PROVIDER = "Microsoft.ContainerService"
# Both names of `compatibleWith` lists that AKS has used (aks-arm.md §2, §4).
COMPATIBILITY_NAMES = ("KubernetesOfficial", "AKSLongTermSupport")


def cluster_id(c: Cluster) -> str:
    return (
        f"/subscriptions/{c.subscription_id}/resourcegroups/{c.resource_group}"
        f"/providers/{PROVIDER}/managedClusters/{c.name}"
    )


def managed_cluster(c: Cluster) -> JSON:
    return {
        "id": cluster_id(c),
        "location": c.location,
        "name": c.name,
        "type": f"{PROVIDER}/ManagedClusters",
        "eTag": c.etag,
        "tags": dict(c.tags),
        "sku": {"name": "Base", "tier": "Standard"},
        "identity": {
            "type": "SystemAssigned",
            "principalId": _uuid(c, "principal"),
            "tenantId": _uuid(c, "tenant"),
        },
        "properties": _properties(c),
    }


def _properties(c: Cluster) -> JSON:
    dns_prefix = f"{c.name}-dns"
    return {
        "provisioningState": c.provisioning_state,
        "powerState": {"code": "Running"},
        "kubernetesVersion": c.kubernetes_version,
        "currentKubernetesVersion": c.kubernetes_version,
        "dnsPrefix": dns_prefix,
        "fqdn": f"{dns_prefix}-{_short(c)}.hcp.{c.location}.azmk8s.io",
        "azurePortalFQDN": f"{dns_prefix}-{_short(c)}.portal.hcp.{c.location}.azmk8s.io",
        "agentPoolProfiles": [_system_pool(c)],
        "nodeResourceGroup": f"MC_{c.resource_group}_{c.name}_{c.location}",
        "enableRBAC": True,
        "supportPlan": "KubernetesOfficial",
        "networkProfile": {
            "networkPlugin": "azure",
            "networkPluginMode": "overlay",
            "networkDataplane": "azure",
            "loadBalancerSku": "standard",
            "outboundType": "loadBalancer",
            "podCidr": "10.244.0.0/16",
            "serviceCidr": "10.0.0.0/16",
            "dnsServiceIP": "10.0.0.10",
            "ipFamilies": ["IPv4"],
        },
        "maxAgentPools": 100,
        "autoUpgradeProfile": {"upgradeChannel": "none", "nodeOSUpgradeChannel": "NodeImage"},
        "oidcIssuerProfile": {"enabled": False},
        "disableLocalAccounts": False,
        "serviceMeshProfile": copy.deepcopy(c.mesh_profile),
    }


def _system_pool(c: Cluster) -> JSON:
    return {
        "name": "nodepool1",
        "count": 3,
        "vmSize": "Standard_D4ds_v5",
        "osDiskSizeGB": 128,
        "osDiskType": "Ephemeral",
        "kubeletDiskType": "OS",
        "maxPods": 110,
        "type": "VirtualMachineScaleSets",
        "enableAutoScaling": False,
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "orchestratorVersion": c.kubernetes_version,
        "currentOrchestratorVersion": c.kubernetes_version,
        "mode": "System",
        "osType": "Linux",
        "osSKU": "Ubuntu",
        "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202501.12.0",
        "upgradeSettings": {"maxSurge": "10%"},
    }


def mesh_revision(info: RevisionInfo, upgrades: list[str]) -> JSON:
    """One `MeshRevision`; the newest revision has no `upgrades` key at all (as AKS sends it)."""
    body: JSON = {"revision": info.name}
    if upgrades:
        body["upgrades"] = list(upgrades)
    body["compatibleWith"] = [
        {"name": n, "versions": list(info.kubernetes)} for n in COMPATIBILITY_NAMES
    ]
    return body


def mesh_upgrade_profile(c: Cluster, revision: JSON) -> JSON:
    return {
        "id": f"{cluster_id(c)}/meshUpgradeProfiles/istio",
        "name": "istio",
        "type": f"{PROVIDER}/managedClusters/meshUpgradeProfiles",
        "properties": revision,
    }


def mesh_revision_profile(subscription_id: str, location: str, catalogue: Catalogue) -> JSON:
    revisions = [
        mesh_revision(i, [u for u in i.upgrades if is_supported(catalogue, u)])
        for i in catalogue.ordered()
        if i.supported
    ]
    return {
        "id": f"/subscriptions/{subscription_id}/providers/{PROVIDER}/locations/{location}"
        "/meshRevisionProfiles/istio",
        "name": "istio",
        "type": f"{PROVIDER}/locations/meshRevisionProfiles",
        "properties": {"meshRevisions": revisions},
    }


def user_credentials(c: Cluster) -> JSON:
    value = base64.b64encode(kubeconfig(c).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": value}]}


def kubeconfig(c: Cluster) -> str:
    """What `az aks get-credentials` would merge: one cluster, one context, a token user."""
    user = f"clusterUser_{c.resource_group}_{c.name}"
    cluster: JSON = {"server": c.kube_server_url}
    if c.kube_ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(c.kube_ca_pem.encode()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": c.name, "cluster": cluster}],
        "contexts": [{"name": c.name, "context": {"cluster": c.name, "user": user}}],
        "current-context": c.name,
        "users": [{"name": user, "user": {"token": c.kube_token}}],
        "preferences": {},
    }
    text: str = yaml.safe_dump(config, sort_keys=False)
    return text


def _short(c: Cluster) -> str:
    return hashlib.sha256(cluster_id(c).lower().encode()).hexdigest()[:8]


def _uuid(c: Cluster, salt: str) -> str:
    h = hashlib.sha256(f"{salt}:{cluster_id(c).lower()}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
