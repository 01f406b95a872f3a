"""Entra ID's HTTP surface as azure-identity and MSAL call it.

- `POST /{tenant}/oauth2/v2.0/token`: the client credentials grant, with a client secret or a
  client assertion (workload identity). The answer is Entra's: `token_type`, `expires_in`,
  `ext_expires_in`, `access_token`; a refusal is `{"error", "error_description": "AADSTS...:
  ... Trace ID ...", "error_codes", "timestamp", "trace_id", "correlation_id"}`.
- `GET /{tenant}/v2.0/.well-known/openid-configuration`: what MSAL reads before its first token
  (it needs `authorization_endpoint` and `token_endpoint`, msal/authority.py).
- `GET /{tenant}/discovery/v2.0/keys`: the signing keys (JWKS).
- `GET /common/discovery/instance`: instance discovery. MSAL sends it to
  login.microsoftonline.com for any authority host it does not know, never to the authority
  itself (msal/authority.py `_get_instance_discovery_host`), so clients of a simulated
  authority pass `disable_instance_discovery=True`; it is served for tools that do ask here.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from meshsim.entra.tenant import AadError, Tenant

Route = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True)
class TokenCall:
    """One token request: who asked (client id), for what (scope), and the answer's status."""

    client_id: str
    scope: str
    grant: str  # "secret" or "assertion"
    status: int
    time: float  # wall-clock epoch seconds

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def routes(tenant: Tenant, record: Callable[[TokenCall], None]) -> list[tuple[str, str, Route]]:
    async def token(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        try:
            _check_tenant(tenant, request.match_info["tenant"])
            response = web.json_response(_grant(tenant, form))
        except AadError as exc:
            response = error_response(exc, origin(request))
        how = "assertion" if "client_assertion" in form else "secret"
        record(TokenCall(form.get("client_id", ""), form.get("scope", ""), how,
                         response.status, time.time()))
        return response

    async def openid(request: web.Request) -> web.Response:
        try:
            _check_tenant(tenant, request.match_info["tenant"])
        except AadError as exc:
            return error_response(exc, origin(request))
        return web.json_response(openid_configuration(origin(request), tenant.tenant_id))

    async def keys(request: web.Request) -> web.Response:
        return web.json_response({"keys": [tenant.key.jwk()]})

    async def instance(request: web.Request) -> web.Response:
        return web.json_response(instance_discovery(origin(request), request.query,
                                                    tenant.tenant_id))

    return [("POST", "/{tenant}/oauth2/v2.0/token", token),
            ("GET", "/{tenant}/v2.0/.well-known/openid-configuration", openid),
            ("GET", "/{tenant}/discovery/v2.0/keys", keys),
            ("GET", "/common/discovery/instance", instance)]


def _grant(tenant: Tenant, form: dict[str, str]) -> dict[str, Any]:
    grant = form.get("grant_type")
    if grant != "client_credentials":
        raise AadError(400, "unsupported_grant_type", 70003,
                       f"The app requested an unsupported grant type '{grant}'.")
    client_id = form.get("client_id")
    if not client_id:
        raise AadError(400, "invalid_request", 900144,
                       "The request body must contain the following parameter: 'client_id'.")
    app = tenant.authenticate(client_id, form.get("client_secret"),
                              form.get("client_assertion"), form.get("client_assertion_type"))
    access, expires_in = tenant.token_for(app, form.get("scope", "").split(),
                                          via_assertion="client_assertion" in form)
    return {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
            "access_token": access}


def _check_tenant(tenant: Tenant, asked: str) -> None:
    if asked.lower() != tenant.tenant_id.lower():
        raise AadError(400, "invalid_request", 90002,
                       f"Tenant '{asked}' not found. Check to make sure you have the correct "
                       "tenant ID and are signing into the correct cloud. Check with your "
                       "subscription administrator, this may happen if there are no active "
                       "subscriptions for the tenant.")


def origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def error_response(exc: AadError, base: str) -> web.Response:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    description = (f"AADSTS{exc.code}: {exc.description}\r\nTrace ID: {trace}\r\n"
                   f"Correlation ID: {correlation}\r\nTimestamp: {stamp}")
    body = {"error": exc.error, "error_description": description, "error_codes": [exc.code],
            "timestamp": stamp, "trace_id": trace, "correlation_id": correlation,
            "error_uri": f"{base}/error?code={exc.code}"}
    return web.json_response(body, status=exc.status)


def fault_body(status: int) -> bytes:
    """What fault rules answer with: Entra's own error shape."""
    error = "temporarily_unavailable" if status >= 500 else "invalid_request"
    return json.dumps({"error": error, "error_description": f"AADSTS90033: A transient error "
                       f"has occurred (simulated fault: HTTP {status}). Please try again.",
                       "error_codes": [90033]}).encode()


def openid_configuration(base: str, tenant_id: str) -> dict[str, Any]:
    root = f"{base}/{tenant_id}"
    return {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                  "client_secret_basic"],
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{root}/v2.0",
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
    }


def instance_discovery(base: str, query: Any, tenant_id: str) -> dict[str, Any]:
    asked = str(query.get("authorization_endpoint", ""))
    if not asked.lower().startswith(base.lower() + "/"):
        return {"error": "invalid_instance",
                "error_description": "AADSTS50049: Unknown or invalid instance."}
    tenant = asked[len(base) + 1:].split("/", 1)[0] or tenant_id
    host = base.split("://", 1)[1]
    return {"tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host,
                          "aliases": [host]}]}
