"""The test CA that makes the simulated ARM an HTTPS endpoint the Azure SDK trusts.

The SDK's bearer-token policy refuses plain http (aks-arm.md §2), so ARM is served over TLS
with a `trustme` CA; clients pass the CA file as `connection_verify`, or set
REQUESTS_CA_BUNDLE to it (requests reads it whenever verification is on, which is how
DefaultAzureCredential, which takes no CA of its own from the environment, trusts it). The same
server context serves the Entra ID tenant and the Entra ID clusters' API servers: one CA for
the whole simulated cloud.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

CA_FILE = "arm-ca.pem"


@dataclass(frozen=True)
class ArmTls:
    ca_path: Path  # PEM of the CA; give it to clients as `connection_verify`
    server_context: ssl.SSLContext  # for `SimLoop.serve(..., ssl_context=...)`


def make_tls(directory: Path | str, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> ArmTls:
    """A fresh CA, a server certificate for `hosts`, and the CA PEM written to `directory`."""
    ca = trustme.CA(organization_name="meshsim ARM test CA")
    server_cert = ca.issue_cert(*hosts)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca_path = folder / CA_FILE
    ca.cert_pem.write_to_path(str(ca_path))
    return ArmTls(ca_path=ca_path, server_context=context)
