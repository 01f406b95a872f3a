"""A simulated Entra ID tenant: its app registrations, what it trusts, and the tokens it signs.

Tokens are v1.0 access tokens as Entra issues them for ARM and the AKS server application
(`aud` is the resource the `.default` scope names, `iss` is `https://sts.windows.net/{tid}/`,
`appid`/`oid`/`tid`, `iat`=`nbf`, `exp` after `token_lifetime` real seconds). A client
proves itself with a secret or with a client assertion: a JWT from a trusted OIDC issuer (an
AKS cluster's service account issuer) matching one of the app's federated credentials. Every
refusal is an `AadError` with the AADSTS code and words Entra uses.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from meshsim.entra.issuer import OidcIssuer
from meshsim.entra.tokens import Claims, Rejected, SigningKey, Why, read, unverified

ARM_RESOURCE = "https://management.azure.com"
AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"  # the same in every cloud (kubelogin docs)
MONITOR_RESOURCE = "https://prometheus.monitor.azure.com"
# The resource principals the tenant knows; a scope naming another is AADSTS500011.
RESOURCES = frozenset({ARM_RESOURCE, "https://management.core.windows.net", AKS_SERVER_APP,
                       MONITOR_RESOURCE})
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
DEFAULT_LIFETIME = 3599.0  # Entra's `expires_in` for a client-credentials token (60-90 min)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class AadError(Exception):
    """An OAuth error answer: HTTP status, `error`, and `AADSTS<code>: <description>`."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.status, self.error, self.code, self.description = status, error, code, description


@dataclass(frozen=True)
class FederatedCredential:
    issuer: str
    subject: str
    audiences: tuple[str, ...] = (TOKEN_EXCHANGE_AUDIENCE,)


@dataclass
class App:
    """An app registration with its service principal (`object_id` is what RBAC names)."""

    name: str
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    secrets: list[str] = field(default_factory=list)
    federated: list[FederatedCredential] = field(default_factory=list)


class Tenant:
    def __init__(self, tenant_id: str | None = None,
                 token_lifetime: float = DEFAULT_LIFETIME) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.token_lifetime = token_lifetime
        self.key = SigningKey.generate()
        self._apps: dict[str, App] = {}
        self._issuers: dict[str, OidcIssuer] = {}
        self._lock = threading.Lock()

    @property
    def sts_issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    # ---- directory ---------------------------------------------------------------------------
    def register(self, name: str, secret: str | None = None, client_id: str | None = None
                 ) -> App:
        app = App(name, client_id=client_id or str(uuid.uuid4()),
                  secrets=[secret] if secret else [])
        with self._lock:
            self._apps[app.client_id.lower()] = app
        return app

    def app(self, client_id: str) -> App | None:
        with self._lock:
            return self._apps.get(client_id.lower())

    def principal(self, key: str) -> App | None:
        """The app whose client id, object id or name is `key`."""
        with self._lock:
            apps = list(self._apps.values())
        wanted = key.lower()
        return next((a for a in apps if wanted in (a.client_id.lower(), a.object_id.lower(),
                                                    a.name.lower())), None)

    def trust(self, issuer: OidcIssuer) -> None:
        """Entra fetches a federated issuer's keys from its discovery document; here, directly."""
        with self._lock:
            self._issuers[issuer.url] = issuer

    def federate(self, app: App, issuer: OidcIssuer, subject: str) -> None:
        self.trust(issuer)
        app.federated.append(FederatedCredential(issuer.url, subject))

    # ---- tokens ------------------------------------------------------------------------------
    def token_for(self, app: App, scopes: Iterable[str], *, via_assertion: bool = False,
                  lifetime: float | None = None, now: float | None = None) -> tuple[str, int]:
        """An access token for the one resource `scopes` name, and its `expires_in`."""
        resource = self._resource(list(scopes))
        issued = int(time.time() if now is None else now)
        # JWT times are whole seconds; a token lives at least one.
        expires_in = max(1, round(self.token_lifetime if lifetime is None else lifetime))
        claims: Claims = {
            "aud": resource, "iss": self.sts_issuer, "iat": issued, "nbf": issued,
            "exp": issued + expires_in, "aio": uuid.uuid4().hex, "appid": app.client_id,
            "appidacr": "2" if via_assertion else "1", "idp": self.sts_issuer, "idtyp": "app",
            "oid": app.object_id, "rh": "0.sim", "sub": app.object_id, "tid": self.tenant_id,
            "uti": uuid.uuid4().hex[:22], "ver": "1.0"}
        return self.key.sign(claims), expires_in

    def verify(self, token: str, now: float | None = None) -> Claims:
        """The claims of a token this tenant signed, valid now; `Rejected` otherwise."""
        claims = read(token, {self.key.kid: self.key}, now)
        if claims.get("iss") != self.sts_issuer:
            raise Rejected(Why.SIGNATURE, f"issued by {claims.get('iss')}", claims)
        return claims

    def _resource(self, scopes: list[str]) -> str:
        if not scopes or not scopes[0]:
            raise AadError(400, "invalid_request", 90014,
                           "The required field 'scope' is missing from the credential.")
        scope = scopes[0]
        if not scope.endswith("/.default"):
            raise AadError(400, "invalid_scope", 1002012,
                           f"The provided value for scope {scope} is not valid. Client "
                           "credential flows must have a scope value with /.default suffixed "
                           "to the resource identifier (application ID URI).")
        resource = scope.removesuffix("/.default")
        if resource.rstrip("/") not in RESOURCES:
            raise AadError(400, "invalid_resource", 500011,
                           f"The resource principal named {resource} was not found in the "
                           f"tenant named {self.tenant_id}. This can happen if the application "
                           "has not been installed by the administrator of the tenant or "
                           "consented to by any user in the tenant. You might have sent your "
                           "authentication request to the wrong tenant.")
        return resource

    # ---- client authentication ---------------------------------------------------------------
    def authenticate(self, client_id: str, secret: str | None, assertion: str | None,
                     assertion_type: str | None) -> App:
        """The app a token request proves it is, or the AadError Entra answers."""
        app = self.app(client_id)
        if app is None:
            raise AadError(400, "unauthorized_client", 700016,
                           f"Application with identifier '{client_id}' was not found in the "
                           f"directory '{self.tenant_id}'. This can happen if the application "
                           "has not been installed by the administrator of the tenant or "
                           "consented to by any user in the tenant. You may have sent your "
                           "authentication request to the wrong tenant.")
        if assertion is not None:
            self._check_assertion(app, assertion, assertion_type)
        elif secret is None:
            raise AadError(401, "invalid_client", 7000218,
                           "The request body must contain the following parameter: "
                           "'client_assertion' or 'client_secret'.")
        elif secret not in app.secrets:
            raise AadError(401, "invalid_client", 7000215,
                           "Invalid client secret provided. Ensure the secret being sent in "
                           "the request is the client secret value, not the client secret ID, "
                           f"for a secret added to app '{app.client_id}'.")
        return app

    def _check_assertion(self, app: App, assertion: str, assertion_type: str | None) -> None:
        if assertion_type != ASSERTION_TYPE:
            raise AadError(400, "invalid_request", 50027,
                           f"Invalid client assertion type '{assertion_type}'.")
        claims = self._assertion_claims(assertion)
        issuer, subject = str(claims.get("iss")), str(claims.get("sub"))
        audiences = claims.get("aud")
        auds = set(audiences) if isinstance(audiences, list) else {str(audiences)}
        if not any(f.issuer == issuer and f.subject == subject and auds & set(f.audiences)
                   for f in app.federated):
            raise AadError(400, "invalid_client", 70021,
                           "No matching federated identity record found for presented "
                           f"assertion. Assertion Issuer: '{issuer}'. Assertion Subject: "
                           f"'{subject}'. Assertion Audience: '{', '.join(sorted(auds))}'.")

    def _assertion_claims(self, assertion: str) -> Claims:
        try:
            issuer_url = str(unverified(assertion).get("iss"))
            with self._lock:
                issuer = self._issuers.get(issuer_url)
            if issuer is None:
                raise AadError(400, "invalid_client", 700211,
                               "No matching federated identity record found for presented "
                               f"assertion issuer '{issuer_url}'.")
            return issuer.verify(assertion)
        except Rejected as exc:
            if exc.why in (Why.EXPIRED, Why.NOT_YET_VALID):
                raise AadError(400, "invalid_client", 700024,
                               "Client assertion is not within its valid time range.") from None
            raise AadError(400, "invalid_client", 700027,
                           f"Client assertion failed signature validation ({exc.detail}).") \
                from None

