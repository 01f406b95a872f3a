"""`ArmSim`: the simulated ARM endpoint for Microsoft.ContainerService, assembled.

It owns the resource provider, the call record and the fault rules, builds the aiohttp app,
and offers the Python side of the control API. Thread-safe: tests call it from their own
thread while the app runs on `SimLoop`'s thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from meshsim.arm import control, maintenance, server
from meshsim.arm.calls import ArmCall, CallLog
from meshsim.arm.changes import ClusterChange
from meshsim.arm.credentials import EntraProfile
from meshsim.arm.provider import ResourceProvider
from meshsim.arm.rp import Cluster, default_mesh_profile
from meshsim.arm.tls import ArmTls, make_tls
from meshsim.catalogue import Catalogue, default_catalogue
from meshsim.clock import SimClock
from meshsim.entra import EntraSim
from meshsim.faults import Faults, add_fault_routes, fault_middleware
from meshsim.runtime import SimLoop

# How long a mesh PUT takes in simulated seconds; real canary starts took ~2.5 min (aks-arm.md §1).
OPERATION_SECONDS = 30.0
# What an operator grants the bot's identity on each cluster (README, "Run it on AKS"): write
# and read, a user kubeconfig, and reads such as meshUpgradeProfiles/read, which the AKS
# Contributor Role lacks. ARM answers Microsoft.Authorization/permissions from them.
BOT_ARM_ROLES = ("Azure Kubernetes Service Contributor Role",
                 "Azure Kubernetes Service Cluster User Role", "Reader")


def _ignore_revisions(revisions: list[str]) -> None:
    return None


def _ignore_patch(revision: str, version: str) -> None:
    return None


class ArmSim:
    def __init__(
        self,
        clock: SimClock,
        catalogue: Catalogue | None = None,
        faults: Faults | None = None,
        operation_seconds: float = OPERATION_SECONDS,
        entra: EntraSim | None = None,
    ) -> None:
        self.clock = clock
        # ARM trusts one tenant's tokens; `serve` serves it beside ARM with the same test CA.
        self.entra = entra if entra is not None else EntraSim()
        self.catalogue = catalogue if catalogue is not None else default_catalogue()
        self.faults = faults if faults is not None else Faults()
        self.rp = ResourceProvider(clock, self.catalogue, operation_seconds)
        self.log = CallLog(clock)
        self.base_url: str | None = None  # https://127.0.0.1:PORT once served
        self.ca_path: Path | None = None
        self.server_tls: ArmTls | None = None  # the CA's server context, for other servers

    def add_cluster(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        location: str = "westeurope",
        kubernetes_version: str = "1.30.7",
        revisions: list[str] | None = None,
        kube_server_url: str = "https://127.0.0.1:6443",
        on_revisions: Callable[[list[str]], None] = _ignore_revisions,
        on_patch: Callable[[str, str], None] = _ignore_patch,
        kube_ca_pem: str | None = None,
        kube_token: str = "meshsim-cluster-user",
        entra: EntraProfile | None = None,
        oidc_issuer_url: str | None = None,
        bot_roles: tuple[str, ...] = BOT_ARM_ROLES,
    ) -> None:
        """A cluster with the Istio add-on on `revisions` (default `["asm-1-22"]`), idle;
        with `entra`, an Entra ID cluster (kubelogin user kubeconfig, meshsim/arm/credentials).
        The tenant's bot app holds `bot_roles` on it."""
        cluster_id = (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
                      f"/providers/Microsoft.ContainerService/managedClusters/{name}")
        for role in bot_roles:
            self.entra.assignments.grant(self.entra.bot.object_id, role, cluster_id)
        revs = list(revisions) if revisions is not None else ["asm-1-22"]
        self.rp.add(
            Cluster(
                subscription_id,
                resource_group,
                name,
                location,
                kubernetes_version,
                mesh_profile=default_mesh_profile(revs),
                applied=list(revs),
                kube_server_url=kube_server_url,
                on_revisions=on_revisions,
                on_patch=on_patch,
                kube_ca_pem=kube_ca_pem,
                kube_token=kube_token,
                entra=entra,
                oidc_issuer_url=oidc_issuer_url,
            )
        )

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                self.log.middleware(),
                fault_middleware(self.faults, server.fault_error_body),
            ]
        )
        add_fault_routes(app, self.faults)
        control.add_control_routes(app, self.rp, self.log)
        app.router.add_route("*", "/{tail:.*}", server.handler(self.rp, self.entra.tenant,
                                                               self.entra.assignments))
        return app

    def tls(self, directory: Path | str) -> ArmTls:
        """A test CA (PEM written to `directory`) and the server's TLS context."""
        tls = make_tls(directory)
        self.ca_path, self.server_tls = tls.ca_path, tls
        return tls

    def serve(self, loop: SimLoop, tls_dir: Path | str, port: int = 0) -> str:
        """Serve over HTTPS on 127.0.0.1; returns (and sets) `base_url`. `ca_path` is set too,
        and the tenant is served on a port of its own (`entra.base_url`)."""
        tls = self.tls(tls_dir)
        bound = loop.serve(self.app(), port=port, ssl_context=tls.server_context)
        self.base_url = f"https://127.0.0.1:{bound}"
        self.entra.serve(loop, tls.server_context)
        return self.base_url

    def calls(self, method: str | None = None, path_contains: str | None = None) -> list[ArmCall]:
        return self.log.calls(method, path_contains)

    def clear_calls(self) -> None:
        self.log.clear()

    def fail_next_operation(
        self, code: str = control.DEFAULT_FAILURE[0], message: str = control.DEFAULT_FAILURE[1]
    ) -> None:
        """The next operation to start ends Failed with this error; the cluster is unchanged."""
        self.rp.operations.fail_next(code, message)

    def patch_release(self, revision: str, version: str) -> list[str]:
        """Bump `revision` to `version` and call `on_patch` of every cluster running it."""
        return self.rp.patch_release(revision, version)

    def cluster_state(self, subscription_id: str, resource_group: str, name: str) -> dict[str, Any]:
        """`revisions` (ARM's goal), `applied` (the cluster's), `provisioningState`, `eTag`,
        `tags`, `agentPoolCounts`, ..."""
        return control.cluster_state(self.rp, subscription_id, resource_group, name)

    def change_cluster(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        tags: Mapping[str, str | None] | None = None,
        pool_counts: Mapping[str, int] | None = None,
        after_next_get: bool = False,
    ) -> None:
        """Change the cluster as another tool would (`az aks update --tags`, `az aks scale`):
        set tags (None removes one) and pool counts, with new eTags. With `after_next_get`
        the change lands right after the cluster's next GET is answered, so whoever read it
        then PUTs a stale eTag. Raises `RpError` (409 while an operation runs, 400)."""
        change = ClusterChange(dict(tags or {}), dict(pool_counts or {}))
        c = self.rp.cluster(subscription_id, resource_group, name)
        self.rp.change(c, change, after_next_get=after_next_get)

    def set_maintenance(self, subscription_id: str, resource_group: str, cluster: str,
                        name: str, properties: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Set (or, with None, delete) a planned-maintenance configuration as a PUT would
        (`az aks maintenanceconfiguration add`); the stored resource. Raises `RpError` (400)
        for a name or window ARM would refuse."""
        c = self.rp.cluster(subscription_id, resource_group, cluster)
        if properties is None:
            maintenance.delete(c, name)
            return None
        body, _ = maintenance.put(c, name, {"properties": dict(properties)}, self.clock.now())
        return body
