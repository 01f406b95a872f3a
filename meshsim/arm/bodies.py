"""The JSON ARM answers with: a ManagedCluster and mesh profiles (kubeconfigs: credentials.py).

Shapes follow the real responses quoted in aks-arm.md §2 ("JSON shapes") so the hybrid models
of azure-mgmt-containerservice 41.x read them as they read Azure's. Read-only fields are
included (the SDK drops them again when it PUTs the body back, `eTag`s among them).
"""

from __future__ import annotations

import copy
import hashlib

from meshsim.arm.credentials import access_properties
from meshsim.arm.rp import JSON, AgentPool, Cluster, is_supported
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
        "agentPoolProfiles": [_pool(c, pool) for pool in c.pools],
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
        **access_properties(c),
        "serviceMeshProfile": copy.deepcopy(c.mesh_profile),
    }


def _pool(c: Cluster, pool: AgentPool) -> JSON:
    """An agentPoolProfile with its own read-only `eTag` (use-etags.md shows it there)."""
    return {
        "name": pool.name,
        "eTag": pool.etag,
        "count": pool.count,
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
        "mode": pool.mode,
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
    # Without extra LTS minors AKS repeats the official list (the get-revisions recording).
    lts = info.lts_kubernetes or info.kubernetes
    body["compatibleWith"] = [
        {"name": name, "versions": list(versions)}
        for name, versions in zip(COMPATIBILITY_NAMES, (info.kubernetes, lts), strict=True)
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


def _short(c: Cluster) -> str:
    return hashlib.sha256(cluster_id(c).lower().encode()).hexdigest()[:8]


def _uuid(c: Cluster, salt: str) -> str:
    h = hashlib.sha256(f"{salt}:{cluster_id(c).lower()}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
