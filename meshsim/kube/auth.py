"""Who is calling the simulated API server, and whether they may: the authentication and
authorization seam of `make_app(..., auth=...)`.

A cluster with local accounts (the default) serves anyone, as meshsim always has. An Entra ID
cluster (meshsim/entra/aks.py) plugs in here: a bearer token is resolved to a `User` or the
request gets 401 as the API server answers it (`{"kind": "Status", ..., "reason":
"Unauthorized", "code": 401}`); a request without credentials may only read the health and
version endpoints (the `system:public-info-viewer` ClusterRole). Authorization then answers
every resource request and SelfSubjectAccessReview with a `Decision`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from meshsim.kube.errors import APIError
from meshsim.kube.requestinfo import RequestAttributes

PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = (AUTHENTICATED,)


ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    denied: bool = False  # an authorizer said no outright (SubjectAccessReviewStatus.denied)


class ClusterAuth(Protocol):
    def authenticate(self, token: str) -> User | None:
        """The user a bearer token stands for; None if the token is not good here."""

    def authorize(self, user: User, attrs: RequestAttributes) -> Decision: ...


def unauthorized() -> APIError:
    return APIError(401, "Unauthorized", "Unauthorized")


def request_user(auth: ClusterAuth, request: web.Request) -> User:
    """The caller of `request`, or the 401 the API server answers."""
    header = request.headers.get("Authorization", "")
    if not header.strip():
        if request.path in PUBLIC_PATHS:
            return ANONYMOUS
        raise unauthorized()
    scheme, _, token = header.strip().partition(" ")
    user = auth.authenticate(token.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        raise unauthorized()
    return user
