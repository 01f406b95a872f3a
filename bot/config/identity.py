"""Who this replica is: its identity in Leases and cards, the user agent it sends, and the
namespace it runs in.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

DEFAULT_NAMESPACE = "mesh-upgrade-bot"


SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


VERSION = "0.1.0"


@functools.cache
def replica_identity() -> str:
    """The pod (downward API POD_NAME, else the hostname) and the process: unique per replica."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


def user_agent() -> str:
    """Sent to the Kubernetes API, so its audit log (and meshsim's) says which replica acted."""
    return f"mesh-upgrade-bot/{VERSION} ({replica_identity()})"


def bot_namespace(configured: str | None) -> str:
    if configured:
        return configured
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SA_NAMESPACE.read_text().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE
