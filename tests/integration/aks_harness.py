"""The simulated ARM over HTTPS and real ContainerServiceClients for the bot/azure/mesh.py tests.

Imported by tests/integration/test_aks_*.py, which wrap `serve_arm` in an `arm` fixture.
Nothing here fakes the SDK: the client is built by `bot.azure.client.build_client`, gets its
tokens from the simulated Entra ID tenant with azure-identity's ClientSecretCredential, and
talks TLS to `meshsim.arm.ArmSim` on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.containerservice import ContainerServiceClient

from bot.azure.client import build_client
from bot.azure.mesh import AksMesh
from bot.upgrade.mesh_facts import (
    Operation,
    OperationStatus,
    OpState,
    complete_target,
    rollback_target,
    start_target,
)
from meshsim.arm import ArmSim
from meshsim.catalogue import Catalogue
from meshsim.clock import SimClock
from meshsim.entra import EntraSim
from meshsim.runtime import SimLoop
from tests.sim_bot import arm_credential, client_secret_credential

SUB = "00000000-0000-0000-0000-00000000a11e"
RG = "rg-mesh"
# 30 simulated seconds per ARM operation take 0.15 s at this speed.
FAST = 200.0


@dataclass
class Arm:
    sim: ArmSim
    base_url: str
    ca_path: str
    loop: SimLoop

    def client(self, retry_total: int = 0, credential: TokenCredential | None = None
               ) -> ContainerServiceClient:
        return build_client(SUB, credential or arm_credential(self.sim), self.base_url,
                            self.ca_path, polling_interval=0.01, retry_total=retry_total)

    def mesh(self, name: str = "aks1", retry_total: int = 0,
             credential: TokenCredential | None = None) -> AksMesh:
        return AksMesh(self.client(retry_total, credential), RG, name)

    def foreign_credential(self) -> TokenCredential:
        """A credential of another tenant, served beside ARM: real tokens ARM does not trust."""
        other = EntraSim()
        assert self.sim.server_tls is not None
        other.serve(self.loop, self.sim.server_tls.server_context)
        assert other.base_url is not None
        return client_secret_credential(other.base_url, other.tenant.tenant_id,
                                        other.bot.client_id, other.bot_secret, self.ca_path)

    def cluster(self, name: str = "aks1", **kwargs: Any) -> None:
        self.sim.add_cluster(SUB, RG, name, **kwargs)

    def puts(self) -> int:
        return len(self.sim.calls("PUT", "/managedClusters/"))

    def state(self, name: str = "aks1") -> dict[str, Any]:
        return self.sim.cluster_state(SUB, RG, name)


@contextmanager
def serve_arm(tmp_path: Path, speed: float = FAST, catalogue: Catalogue | None = None
              ) -> Iterator[Arm]:
    loop = SimLoop()
    try:
        sim = ArmSim(SimClock(speed), catalogue=catalogue)
        base_url = sim.serve(loop, tmp_path / "tls")
        assert sim.ca_path is not None
        yield Arm(sim, base_url, str(sim.ca_path), loop)
    finally:
        loop.close()


def wait_for(mesh: AksMesh, op: Operation | str, timeout: float = 15.0) -> OperationStatus:
    """Ask for the status until the operation ends, as the workflow's ticks would."""
    deadline = time.monotonic() + timeout
    while True:
        status = mesh.operation_status(op)
        if status.state is not OpState.IN_PROGRESS or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def operation_ended(arm: Arm, name: str = "aks1", timeout: float = 15.0) -> dict[str, Any]:
    """Wait until the simulated ARM has ended the cluster's operation, reading its state
    directly (no request reaches ARM), and return that state. The operation ends on the loop
    that serves ARM's requests, so every request sent after this sees it ended."""
    deadline = time.monotonic() + timeout
    while True:
        state = arm.state(name)
        if state["operationId"] is None:
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"the operation on {name} did not end within {timeout} s")
        time.sleep(0.02)


# What `az aks mesh upgrade start|complete|rollback` send: the target computed from the
# cluster's state by the domain's rules, then one PUT (the workflow does the same with its plan).
def start(mesh: AksMesh, to_revision: str) -> Operation:
    return mesh.begin_set_revisions(start_target(mesh.mesh_state(), to_revision))


def complete(mesh: AksMesh) -> Operation:
    return mesh.begin_set_revisions(complete_target(mesh.mesh_state()))


def rollback(mesh: AksMesh) -> Operation:
    return mesh.begin_set_revisions(rollback_target(mesh.mesh_state()))
