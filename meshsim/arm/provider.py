"""The simulated AKS resource provider: clusters, their PUTs and operations, mesh profiles.

A PUT is validated (412 on a stale If-Match, 409 while an operation runs, then the revision
rules of `rp` and the pool counts of `changes`), answered at once with the goal state and
`provisioningState: Updating`, and applied to the simulated cluster through its
`on_revisions` callback when the operation ends. After a failed operation ARM keeps showing
the requested goal with `provisioningState: Failed`, as real AKS does; the cluster keeps its
old revisions, and a PUT of the same goal is allowed and runs again. `change` is another
tool's write (tags, pool counts), now or right after the cluster's next GET.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque

from meshsim.arm import bodies, changes
from meshsim.arm.changes import ClusterChange
from meshsim.arm.operations import Operation, Operations
from meshsim.arm.rp import (
    JSON,
    UPGRADE_IN_PROGRESS,
    Cluster,
    RpError,
    available_upgrades,
    bad_request,
    check_profile,
    cluster_key,
    requested_profile,
)
from meshsim.catalogue import Catalogue
from meshsim.clock import SimClock

log = logging.getLogger(__name__)


class ResourceProvider:
    def __init__(self, clock: SimClock, catalogue: Catalogue, operation_seconds: float) -> None:
        self.clock = clock
        self.catalogue = catalogue
        self.operations = Operations(clock, operation_seconds)
        self._clusters: dict[tuple[str, str, str], Cluster] = {}
        self._lock = threading.RLock()
        self._tasks: set[asyncio.Task[None]] = set()
        # Other tools' writes waiting for the cluster's next GET, by cluster key.
        self._after_get: dict[tuple[str, str, str], deque[ClusterChange]] = {}

    def add(self, cluster: Cluster) -> None:
        with self._lock:
            self._clusters[cluster.key] = cluster

    def clusters(self) -> list[Cluster]:
        with self._lock:
            return list(self._clusters.values())

    def cluster(self, subscription_id: str, resource_group: str, name: str) -> Cluster:
        with self._lock:
            found = self._clusters.get(cluster_key(subscription_id, resource_group, name))
        if found is None:
            raise RpError(
                404,
                "ResourceNotFound",
                f"The Resource '{bodies.PROVIDER}/managedClusters/{name}' under resource "
                f"group '{resource_group}' was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix",
            )
        return found

    def find(self, name: str, resource_group: str | None = None,
             subscription_id: str | None = None) -> Cluster:
        """The one cluster called `name` (in that group and subscription, when given)."""
        wanted = (subscription_id, resource_group, name)
        found = [c for c in self.clusters()
                 if all(w is None or w.lower() == k for w, k in zip(wanted, c.key, strict=True))]
        if len(found) != 1:
            raise RpError(404 if not found else 400, "NotFound" if not found else "Ambiguous",
                          f"{len(found)} clusters match '{name}'; give resourceGroup and "
                          "subscriptionId.")
        return found[0]

    def render(self, c: Cluster) -> JSON:
        """What a GET of the cluster answers. A change queued for after the next GET lands
        right after this read, so the reader holds an eTag that is already stale."""
        with self._lock:
            body = bodies.managed_cluster(c)
            queued = self._after_get.get(c.key)
            if queued:
                self._apply_queued(c, queued.popleft())
            return body

    def change(self, c: Cluster, change: ClusterChange, after_next_get: bool = False) -> None:
        """Another tool's finished write; 409 while an operation runs, as ARM would answer."""
        with self._lock:
            changes.check(c, change)
            if after_next_get:
                self._after_get.setdefault(c.key, deque()).append(change)
                return
            self._check_idle(c)
            changes.apply(c, change)

    def _apply_queued(self, c: Cluster, change: ClusterChange) -> None:
        try:
            self._check_idle(c)
            changes.apply(c, change)
        except RpError as exc:  # the other tool was refused: nothing changes
            log.warning("queued change of %s not applied: %s", c.name, exc.message)

    def put(self, c: Cluster, body: JSON, if_match: str | None) -> tuple[JSON, Operation]:
        """Validate and accept a PUT and start its operation (called on the event loop)."""
        with self._lock:
            changes.check_if_match(c, if_match)
            self._check_idle(c)
            profile = requested_profile(c.mesh_profile, body)
            check_profile(self.catalogue, c, profile)
            carried = changes.carried_by_put(c, body)
            changes.check(c, carried)
            c.mesh_profile = profile
            changes.apply(c, carried)  # and new eTags
            c.provisioning_state = "Updating"
            op = self.operations.start(c.key, c.subscription_id, c.location, c.revisions)
            c.operation_id = op.id
            self._schedule(op)
            return bodies.managed_cluster(c), op

    def _check_idle(self, c: Cluster) -> None:
        running = self.operations.get(c.operation_id) if c.operation_id else None
        if running is None:
            return
        raise RpError(
            409,
            "OperationNotAllowed",
            "Operation is not allowed because there's an in progress update managed cluster "
            f"operation (operation ID: {running.id}) on the managed cluster started on UTC "
            f"{self.clock.rfc3339(running.start_time)}. Please wait for it to finish before "
            "starting a new operation. You can also use 'az aks operation-abort' to abort the "
            "ongoing operation.",
        )

    def _schedule(self, op: Operation) -> None:
        task = asyncio.get_running_loop().create_task(self.run(op))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, op: Operation) -> None:
        await self.clock.sleep(self.operations.seconds)
        self.finish(op)

    def finish(self, op: Operation) -> None:
        """End `op`: apply its revisions to the cluster (unless it fails), then report the end."""
        with self._lock:
            c = self._clusters[op.cluster]
        error = op.failure
        if error is None and op.revisions != c.applied:
            error = _apply(c, op.revisions)
        with self._lock:
            if error is None:
                c.applied = list(op.revisions)
            c.provisioning_state = "Failed" if error else "Succeeded"
            c.operation_id = None
            # Ended last, so a poller that sees the terminal status reads the final cluster.
            self.operations.end(op, error)

    def upgrade_profile(self, c: Cluster) -> JSON | None:
        with self._lock:
            revisions = c.revisions
        if len(revisions) > 1:
            raise bad_request(UPGRADE_IN_PROGRESS)
        info = self.catalogue.get(revisions[0]) if revisions else None
        if info is None:
            return None
        upgrades = available_upgrades(self.catalogue, info.name, c.kubernetes_version)
        return bodies.mesh_upgrade_profile(c, bodies.mesh_revision(info, upgrades))

    def patch_release(self, revision: str, version: str) -> list[str]:
        """Roll a new patch of `revision` out: the catalogue, then every cluster running it."""
        with self._lock:
            if self.catalogue.get(revision) is None:
                raise RpError(404, "NotFound", f"Revision {revision} is not in the catalogue.")
            self.catalogue.bump_patch(revision, version)
            running = [c for c in self._clusters.values() if revision in c.applied]
        for c in running:
            c.on_patch(revision, version)
        return [c.name for c in running]


def _apply(c: Cluster, revisions: list[str]) -> JSON | None:
    try:
        c.on_revisions(list(revisions))
    except Exception as exc:  # the simulated cluster failed: the operation fails, ARM stays up
        log.exception("on_revisions(%s) failed for cluster %s", revisions, c.name)
        return {"code": "InternalOperationError", "message": f"Reconciling the mesh failed: {exc}"}
    return None

