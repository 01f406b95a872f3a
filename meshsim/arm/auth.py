"""ARM's bearer token check: only a token the tenant signed for ARM, unexpired, gets through.

Refusals are ARM's 401s, with its codes and words (as clients have recorded them):
`AuthenticationFailed` (no or malformed header), `InvalidAuthenticationToken` (not a token
this tenant signed), `ExpiredAuthenticationToken` ("The access token expiry UTC time '...' is
earlier than current UTC time '...'.", .NET's general date format) and
`InvalidAuthenticationTokenAudience` (a token for another resource, e.g. the AKS server app).
The WWW-Authenticate challenge carries no `claims`, so azure-core's
ARMChallengeAuthenticationPolicy hands the 401 back instead of retrying.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from meshsim.arm.rp import RpError
from meshsim.entra.tenant import Tenant
from meshsim.entra.tokens import Rejected, Why

ARM_AUDIENCES = ("https://management.core.windows.net/", "https://management.core.windows.net",
                 "https://management.azure.com/", "https://management.azure.com")


def check_token(header: str | None, tenant: Tenant) -> dict[str, Any]:
    """The claims of `header`'s valid ARM token of `tenant`; ARM's 401 otherwise."""
    if header is None:
        raise _refused("AuthenticationFailed",
                       "Authentication failed. The 'Authorization' header is missing.",
                       "The authentication failed because of missing 'Authorization' header.")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        message = ("Authentication failed. The 'Authorization' header is provided in an invalid "
                   "format.")
        raise _refused("AuthenticationFailed", message, message)
    now = time.time()
    try:
        claims = tenant.verify(token.strip(), now)
    except Rejected as exc:
        if exc.why is Why.EXPIRED:
            message = (f"The access token expiry UTC time '{_dotnet(exc.claims['exp'])}' is "
                       f"earlier than current UTC time '{_dotnet(now)}'.")
            raise _refused("ExpiredAuthenticationToken", message, message) from None
        raise _refused("InvalidAuthenticationToken", "The access token is invalid.",
                       "The access token is invalid.") from None
    audience = str(claims.get("aud"))
    if audience not in ARM_AUDIENCES:
        allowed = ",".join(f"'{a}'" for a in ARM_AUDIENCES)
        message = (f"The access token has been obtained for wrong audience or resource "
                   f"'{audience}'. It should exactly match with one of the allowed audiences "
                   f"{allowed}.")
        raise _refused("InvalidAuthenticationTokenAudience", message, message)
    return claims


def _refused(code: str, message: str, description: str) -> RpError:
    challenge = (f'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
                 f'error_description="{description}"')
    return RpError(401, code, message, headers={"WWW-Authenticate": challenge})


def _dotnet(epoch: float) -> str:
    """UTC time as .NET prints it by default: 8/17/2017 10:54:41 PM."""
    t = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return f"{t.month}/{t.day}/{t.year} {t.hour % 12 or 12}:{t:%M:%S} {t:%p}"
