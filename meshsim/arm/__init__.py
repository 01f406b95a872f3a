"""A simulated Azure Resource Manager for the AKS Istio add-on, served over HTTPS.

The real azure-mgmt-containerservice client works against it unmodified:

    arm = ArmSim(clock)                      # catalogue=, faults=, operation_seconds=30 (sim s)
    arm.add_cluster(SUB, "rg", "aks1", kubernetes_version="1.30.7", revisions=["asm-1-22"],
                    kube_server_url=kube_url, on_revisions=kube.set_revisions,
                    on_patch=kube.bump_patch)
    base_url = arm.serve(simloop, tls_dir)   # or: tls = arm.tls(dir); simloop.serve(arm.app(),
                                             #     ssl_context=tls.server_context)
    client = ContainerServiceClient(credential, SUB, base_url=base_url,
                                    connection_verify=str(arm.ca_path), polling_interval=0.05)

The credential is azure-identity's, at the tenant ARM trusts (`arm.entra`, served beside ARM
by `serve`, meshsim/entra): ARM takes only that tenant's unexpired tokens for ARM
(meshsim/arm/auth.py). `add_cluster(..., entra=EntraProfile(tenant_id))` makes an Entra ID
cluster (kubelogin user kubeconfig, admin credential refused: meshsim/arm/credentials.py).

Served (paths case-insensitive, any api-version): managedClusters GET/PUT, `meshUpgradeProfiles`
and `/istio`, `locations/{loc}/meshRevisionProfiles` and `/istio`, POST `listClusterUserCredential`
and `listClusterAdminCredential`, `maintenanceConfigurations` (list; GET/PUT/DELETE one:
meshsim/arm/maintenance.py), and `locations/{loc}/operations/{id}` (the absolute
`Azure-AsyncOperation` URL a PUT returns). `{cluster}/providers/Microsoft.Authorization/
permissions` answers the caller's permissions from the tenant's role assignments
(`arm.entra.assignments`; the bot holds `BOT_ARM_ROLES` on each cluster it adds); ARM does not
enforce them on the other calls. A PUT runs an operation of `operation_seconds` simulated
seconds; `on_revisions(revisions)` is called (on the server's event loop thread) when it succeeds
and the revisions changed; if it raises, the operation ends Failed. After a failed operation ARM
keeps showing the requested revisions with `provisioningState: Failed` (as real AKS does) while the
cluster keeps the old ones; PUTting the same revisions again is allowed and re-runs the operation,
and so are complete/rollback moves from the failed goal.

Python: `calls(method=None, path_contains=None)`, `clear_calls()`,
`fail_next_operation(code, message)`, `patch_release(revision, version)`,
`cluster_state(sub, rg, name)`, `change_cluster(sub, rg, name, tags=, pool_counts=,
after_next_get=)`, `set_maintenance(sub, rg, name, config, properties | None)`, `faults`
(meshsim.faults rules).

Optimistic concurrency as AKS does it (use-etags.md): the cluster and each agent pool carry an
`eTag` in the body (no ETag header); every cluster-level write renews them, and a PUT whose
`If-Match` is not the cluster's eTag (nor `*`) is refused with 412 `PreConditionFailed`.

Control API (no token, not recorded):
- `GET /_sim/arm/calls[?method=PUT&path=managedClusters]`: `[{"method","path","status","time"}]`;
  `DELETE` clears it.
- `GET /_sim/arm/clusters`: `[{"name","revisions","applied","provisioningState",...}]`.
- `POST /_sim/arm/fail-next-operation {"code"?, "message"?}`: the next operation ends Failed.
- `POST /_sim/arm/patch-release {"revision": "asm-1-22", "version": "1.22.6"}`: updates the
  catalogue and calls `on_patch` of the clusters running that revision.
- `POST /_sim/arm/change-cluster {"name", "resourceGroup"?, "subscriptionId"?, "tags"?: {"k":
  "v" | null}, "agentPoolCounts"?: {"nodepool1": 5}, "when"?: "now" | "afterNextGet"}`: another
  tool's write (null removes a tag), new eTags; answers the cluster's state (202 when queued
  for after the cluster's next GET), 409 while an operation runs, 400 for a bad pool count.
- `POST|GET|DELETE /_sim/faults`: fault rules, answered with ARM error bodies.
"""

from meshsim.arm.calls import ArmCall
from meshsim.arm.sim import OPERATION_SECONDS, ArmSim
from meshsim.arm.tls import ArmTls

__all__ = ["OPERATION_SECONDS", "ArmCall", "ArmSim", "ArmTls"]
