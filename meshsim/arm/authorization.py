"""`GET {resource id}/providers/Microsoft.Authorization/permissions`: what the caller may do there.

Azure's Permissions_ListForResource (api-version 2022-04-01, azure-rest-api-specs
authorization-RoleDefinitionsCalls.json) answers `{"value": [{"actions", "notActions",
"dataActions", "notDataActions"}], "nextLink"?}` for the caller's own principal (the token's
`oid`). meshsim answers it for a managed cluster from the tenant's role assignments
(meshsim/entra/rbac.py): an entry per assignment at or above the cluster; one page, no
nextLink. It writes nothing, so a tool may ask before it writes.
"""

from __future__ import annotations

import re
from typing import Any

from meshsim.entra.rbac import RoleAssignments, permissions

_PATH = re.compile(
    r"^(?P<scope>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.containerservice"
    r"/managedclusters/[^/]+)/providers/microsoft\.authorization/permissions/?$", re.IGNORECASE)


def permissions_scope(method: str, path: str) -> str | None:
    """The cluster whose permissions this request asks for, or None for any other request."""
    found = _PATH.match(path) if method == "GET" else None
    return found["scope"] if found else None


def permissions_body(assignments: RoleAssignments, claims: dict[str, Any], scope: str
                     ) -> dict[str, Any]:
    return {"value": permissions(assignments, str(claims.get("oid", "")), scope)}
