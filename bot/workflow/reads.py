"""What people may look at on a cluster outside a run's steps, in domain words: the mesh as
ARM shows it, the upgrades on offer, the sidecar census, tags and namespaces, and a check.
The Slack layer and the jobs read through these; none of them changes anything.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.upgrade.cluster_facts import Census, NamespaceInjection, RevisionPlane, RevisionTag
from bot.upgrade.errors import GiveUp
from bot.upgrade.mesh_facts import MeshState, UpgradeOptions
from bot.upgrade.plan import Settings
from bot.workflow.checks import CheckReport, CheckSubject, take_check
from bot.workflow.ports import Adapters


class ClusterReads:
    def __init__(self, adapters: Callable[[str], Adapters],
                 settings: Callable[[str], Settings]) -> None:
        self._adapters, self._settings = adapters, settings

    def mesh_state(self, cluster: str) -> MeshState:
        return self._adapters(cluster).mesh.mesh_state()

    def upgrades(self, cluster: str) -> UpgradeOptions:
        """What AKS offers now (az aks mesh get-upgrades), with compatibility and reasons."""
        return self._adapters(cluster).mesh.available_upgrades()

    def control_plane(self, cluster: str, revision: str) -> RevisionPlane:
        """istiod and the ingress gateways of `revision`, as `kubectl get pods` shows them."""
        return self._adapters(cluster).cluster.plane_status(revision)

    def census(self, cluster: str, namespace: str | None = None) -> Census:
        return self._adapters(cluster).cluster.take_census(namespace)

    def tags(self, cluster: str) -> tuple[tuple[RevisionTag, ...], tuple[NamespaceInjection, ...]]:
        """The revision tags and every namespace's injection label, as `istioctl tag list`."""
        c = self._adapters(cluster).cluster
        return c.list_tags(), c.namespace_injection()

    def check(self, cluster: str) -> tuple[CheckReport, str]:
        """A check of a cluster with no run: its one revision, and the report."""
        revisions = self.mesh_state(cluster).revisions
        if not revisions:
            raise GiveUp(f"{cluster} runs no Istio revision.", "Enable the add-on first.")
        subject = CheckSubject.cluster(revisions[0], datetime.now(UTC))
        report = take_check(subject, self._adapters(cluster), self._settings(cluster))
        return report, revisions[0]
