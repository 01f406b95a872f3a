"""The API server side of an Entra ID AKS cluster (AKS-managed Entra ID integration).

Authentication takes Entra ID access tokens the tenant signed for the AKS server application
(`aud` 6dae42f8-..., as kubelogin and `az aks` obtain them), valid and unexpired; anything else
is 401. The user is the principal's object id, as AKS names service principals in its
messages. Authorization, with Azure RBAC on, is guard's: the role assignments at the cluster
(or namespace) scope decide, and a refusal carries guard's verdict ("User does not have access
to the resource in Azure. Update role assignment to allow access."). Discovery, health and
SelfSubjectAccessReviews stay open to every authenticated user (system:discovery and
system:basic-user). Without Azure RBAC, Kubernetes RBAC would decide; it is not simulated, so
every authenticated user may act. With local accounts enabled, the admin credential's token is
accepted too, as a member of system:masters.
"""

from __future__ import annotations

from meshsim.entra.rbac import ALLOWED, DENIED, RoleAssignments
from meshsim.entra.tenant import AKS_SERVER_APP, Tenant
from meshsim.entra.tokens import Rejected
from meshsim.kube.auth import AUTHENTICATED, Decision, User
from meshsim.kube.requestinfo import RequestAttributes

MASTERS = "system:masters"
SELF_REVIEWS = frozenset({"selfsubjectaccessreviews", "selfsubjectrulesreviews"})


class EntraClusterAuth:
    def __init__(self, tenant: Tenant, assignments: RoleAssignments, cluster_id: str,
                 azure_rbac: bool = True, admin_token: str | None = None) -> None:
        self.tenant, self.assignments, self.cluster_id = tenant, assignments, cluster_id
        self.azure_rbac, self.admin_token = azure_rbac, admin_token

    def authenticate(self, token: str) -> User | None:
        if self.admin_token is not None and token == self.admin_token:
            return User("clusterAdmin", (MASTERS, AUTHENTICATED))
        try:
            claims = self.tenant.verify(token)
        except Rejected:
            return None
        if claims.get("aud") != AKS_SERVER_APP:
            return None
        return User(str(claims.get("oid")))

    def authorize(self, user: User, attrs: RequestAttributes) -> Decision:
        if MASTERS in user.groups or not attrs.is_resource or not self.azure_rbac:
            return Decision(True)
        if attrs.api_group == "authorization.k8s.io" and attrs.resource in SELF_REVIEWS:
            return Decision(True)
        found = self.assignments.decide(user.name, self.cluster_id, attrs)
        if found is None:
            return Decision(False, DENIED, denied=True)
        return Decision(True, ALLOWED.format(id=found.id, role=found.role.id, user=user.name))
