"""Who this replica is: its identity in Leases and cards, the version and user agent it sends,
and the namespace it runs in. The version is written once, in pyproject.toml; the installed
package's metadata carries it (importlib.metadata).
"""

from __future__ import annotations

import base64
import functools
import importlib.metadata
import json
import os
import socket
from pathlib import Path

DEFAULT_NAMESPACE = "mesh-upgrade-bot"


SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


DISTRIBUTION = "mesh-upgrade-bot"
UNKNOWN_VERSION = "0+unknown"  # run from a source tree that was never installed


@functools.cache
def version() -> str:
    """The installed package's version ([project] version in pyproject.toml)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


@functools.cache
def replica_identity() -> str:
    """The pod (downward API POD_NAME, else the hostname) and the process: unique per replica."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


def user_agent() -> str:
    """Sent to the Kubernetes API, so its audit log (and meshsim's) says which replica acted."""
    return f"mesh-upgrade-bot/{version()} ({replica_identity()})"


def token_object_id(token: str) -> str | None:
    """The object id an Entra ID token names (its `oid` claim), unverified: what a role
    assignment must name. None for anything that is not such a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    oid = claims.get("oid") if isinstance(claims, dict) else None
    return str(oid) if oid else None


def bot_namespace(configured: str | None) -> str:
    if configured:
        return configured
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SA_NAMESPACE.read_text().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE
