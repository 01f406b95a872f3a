"""A simulated Microsoft Entra ID tenant, served over HTTPS with meshsim's test CA, so that
azure-identity's own credentials get real-shaped tokens from it:

    entra = EntraSim()                           # ArmSim makes one and serves it beside ARM
    entra.serve(simloop, tls.server_context)     # -> https://127.0.0.1:PORT, the authority host
    credential = ClientSecretCredential(entra.tenant.tenant_id, entra.bot.client_id,
                                        entra.bot_secret, authority=entra.base_url,
                                        connection_verify=ca_file,
                                        disable_instance_discovery=True)

or, as the bot runs in production, DefaultAzureCredential from AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE), AZURE_AUTHORITY_HOST and
REQUESTS_CA_BUNDLE. Instance discovery must be off for any authority MSAL does not know: MSAL
validates unknown hosts at login.microsoftonline.com (msal/authority.py), not at the authority.

Tokens are RS256 JWTs signed by the tenant (v1.0 claims: aud, iss, tid, oid, appid, iat, nbf,
exp) for ARM (`https://management.azure.com/.default`), the AKS server application
(`6dae42f8-4368-4678-94ff-3960e28e3630/.default`) and Azure Monitor, living
`tenant.token_lifetime` real seconds (default 3599). The simulated ARM accepts only the
tenant's ARM tokens; an Entra ID cluster's API server only its AKS tokens, then Azure RBAC
(meshsim/entra/aks.py, rbac.py). Workload identity: an AKS OIDC issuer signs the projected
service account token (issuer.py), which the tenant accepts as a client assertion for an app
with a matching federated credential.

Python: `grant(principal, role, scope)`, `revoke(principal, role=, scope=)`, `scope(cluster=,
scope=, namespace=)`, `calls(scope_contains)`, `clear_calls()`, `tenant.token_lifetime`,
`faults`. Control API: meshsim/entra/control.py.
"""

from meshsim.entra.sim import BOT_APP, OPERATOR_APP, EntraSim
from meshsim.entra.tenant import AKS_SERVER_APP, ARM_RESOURCE, Tenant

__all__ = ["AKS_SERVER_APP", "ARM_RESOURCE", "BOT_APP", "OPERATOR_APP", "EntraSim", "Tenant"]
