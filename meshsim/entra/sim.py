"""`EntraSim`: the simulated tenant served over HTTPS, its role assignments and control API.

It comes with one app registration for the bot (`mesh-upgrade-bot`, with a client secret; a
federated credential is added for the cluster it runs in) and one for meshsim's own operator
(`meshsim-operator`, whose long-lived token is in the kubeconfig meshsim writes for an Entra
ID cluster). Thread-safe like the other simulators: tests call it from their own thread.
"""

from __future__ import annotations

import re
import secrets
import ssl
import threading
from typing import Any

from aiohttp import web

from meshsim.entra import control, server
from meshsim.entra.rbac import Assignment, RoleAssignments
from meshsim.entra.server import TokenCall
from meshsim.entra.tenant import App, Tenant
from meshsim.faults import Faults, add_fault_routes, fault_middleware
from meshsim.runtime import SimLoop

BOT_APP, OPERATOR_APP = "mesh-upgrade-bot", "meshsim-operator"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


class EntraSim:
    def __init__(self, tenant: Tenant | None = None, faults: Faults | None = None) -> None:
        self.tenant = tenant if tenant is not None else Tenant()
        self.assignments = RoleAssignments()
        self.faults = faults if faults is not None else Faults()
        self.bot_secret = f"sim~{secrets.token_urlsafe(24)}"
        self.bot: App = self.tenant.register(BOT_APP, self.bot_secret)
        self.operator: App = self.tenant.register(OPERATOR_APP)
        self.clusters: dict[str, str] = {}  # cluster name -> its ARM resource id (a scope)
        self.base_url: str | None = None  # the authority host, https://127.0.0.1:PORT
        self._calls: list[TokenCall] = []
        self._lock = threading.Lock()

    # ---- serving -----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[fault_middleware(self.faults, server.fault_body)])
        add_fault_routes(app, self.faults)
        control.add_control_routes(app, self)
        for method, path, route in server.routes(self.tenant, self._record):
            app.router.add_route(method, path, route)
        return app

    def serve(self, loop: SimLoop, ssl_context: ssl.SSLContext, port: int = 0) -> str:
        bound = loop.serve(self.app(), port=port, ssl_context=ssl_context)
        self.base_url = f"https://127.0.0.1:{bound}"
        return self.base_url

    def _record(self, call: TokenCall) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self, scope_contains: str = "") -> list[TokenCall]:
        with self._lock:
            return [c for c in self._calls if scope_contains.lower() in c.scope.lower()]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    # ---- Azure RBAC --------------------------------------------------------------------------
    def register_cluster(self, name: str, resource_id: str) -> None:
        self.clusters[name] = resource_id

    def scope(self, cluster: object = None, scope: object = None, namespace: object = None
              ) -> str:
        """A role assignment scope: a cluster by name (or a scope as is), maybe a namespace."""
        if isinstance(scope, str) and scope:
            base = scope
        elif isinstance(cluster, str) and cluster in self.clusters:
            base = self.clusters[cluster]
        else:
            raise ValueError(f"give a scope or one of the clusters: {', '.join(self.clusters)}")
        return base + (f"/namespaces/{namespace}" if isinstance(namespace, str) and namespace
                       else "")

    def principal_id(self, key: str) -> str:
        """The object id of an app named by name, client id or object id; or a bare GUID."""
        app = self.tenant.principal(key)
        if app is not None:
            return app.object_id
        if _GUID.match(key):
            return key
        raise ValueError(f"no principal {key!r}: give an app's name, client id or object id")

    def grant(self, principal: str, role_name: str, scope: str) -> Assignment:
        return self.assignments.grant(self.principal_id(principal), role_name, scope)

    def revoke(self, principal: str, role_name: str | None = None, scope: str | None = None
               ) -> list[Assignment]:
        return self.assignments.revoke(self.principal_id(principal), role_name, scope)

    def describe_tenant(self) -> dict[str, Any]:
        apps = [self.bot, self.operator]
        return {"tenant_id": self.tenant.tenant_id, "authority_host": self.base_url,
                "token_lifetime": self.tenant.token_lifetime, "clusters": dict(self.clusters),
                "apps": [{"name": a.name, "client_id": a.client_id, "object_id": a.object_id}
                         for a in apps]}
