"""A simulated ARM served over HTTPS on a free port, and real SDK clients pointed at it.

Shared by the `test_arm_*` modules. The callbacks are plain lists, so tests assert what the
simulated cluster was told and when.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerservice import ContainerServiceClient

from meshsim.arm import OPERATION_SECONDS, ArmSim
from meshsim.catalogue import Catalogue
from meshsim.clock import SimClock
from meshsim.runtime import SimLoop
from tests.sim_bot import arm_credential

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-mesh"
NAME = "aks-prod-1"
LOCATION = "westeurope"
KUBE_URL = "https://127.0.0.1:16443"
# 30 simulated seconds per operation take 0.3 s of real time.
SPEED = 100.0
# For tests that look at a running operation: long enough (1.5 s) not to end under a loaded CI.
SLOW_OPERATION = 150.0


@dataclass
class ArmEnv:
    arm: ArmSim
    base_url: str
    ca_path: Path
    revisions: list[list[str]] = field(default_factory=list)  # on_revisions calls
    patches: list[tuple[str, str]] = field(default_factory=list)  # on_patch calls

    def client(self, **kwargs: Any) -> ContainerServiceClient:
        options: dict[str, Any] = {"polling_interval": 0.02, "retry_total": 0, **kwargs}
        return ContainerServiceClient(arm_credential(self.arm), SUB, base_url=self.base_url,
                                      connection_verify=str(self.ca_path), **options)

    def token(self, scope: str = "https://management.azure.com/.default") -> str:
        """An access token of the simulated tenant, as azure-identity obtains it."""
        return arm_credential(self.arm).get_token(scope).token


@contextmanager
def arm_env(tmp_path: Path, operation_seconds: float = OPERATION_SECONDS,
            catalogue: Catalogue | None = None, **cluster: Any) -> Iterator[ArmEnv]:
    """One cluster (`NAME` on asm-1-22, Kubernetes 1.30.7 unless overridden) behind HTTPS."""
    loop = SimLoop()
    try:
        arm = ArmSim(SimClock(speed=SPEED), catalogue, operation_seconds=operation_seconds)
        base_url = arm.serve(loop, tmp_path)
        assert arm.ca_path is not None
        env = ArmEnv(arm, base_url, arm.ca_path)
        options: dict[str, Any] = {
            "location": LOCATION, "kube_server_url": KUBE_URL,
            "on_revisions": env.revisions.append,
            "on_patch": lambda rev, version: env.patches.append((rev, version)),
        }
        arm.add_cluster(SUB, RG, NAME, **{**options, **cluster})
        yield env
    finally:
        loop.close()


TENANT_TOKEN = "<a token of the tenant>"  # raw()'s default: what azure-identity gets for ARM


def raw(env: ArmEnv, method: str, path: str, body: Any = None,
        token: str | None = TENANT_TOKEN) -> tuple[int, Any, dict[str, str]]:
    """One HTTPS call outside the SDK: status, parsed JSON body, headers. `token=None` sends
    no Authorization header."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(env.base_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization",
                           f"Bearer {env.token() if token == TENANT_TOKEN else token}")
    context = ssl.create_default_context(cafile=str(env.ca_path))
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


def cluster_path(name: str = NAME) -> str:
    return (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService"
            f"/managedClusters/{name}")


def arm_error(exc: HttpResponseError) -> tuple[int | None, str, str]:
    """Status, ARM error code and message, as the SDK parsed them from the body."""
    assert exc.error is not None
    return exc.status_code, str(exc.error.code), str(exc.error.message)
