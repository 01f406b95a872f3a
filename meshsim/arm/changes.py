"""Writes to a cluster besides its revisions: tags and agent pool counts, and their eTags.

AKS keeps an eTag on the cluster and one on each agent pool (use-etags.md, azure-aks-docs):
a cluster-level write (a managedCluster PUT, `az aks update --tags`, `az aks scale`) gives the
cluster and its pools new eTags, and a PUT whose `If-Match` names another eTag than the
cluster's is refused with 412 `PreConditionFailed` before anything changes. AKS sends the eTag
only in the body (`eTag`): the SDK's spec declares no ETag response header, and recorded AKS
responses (azure-cli recordings, 2026) carry none. A `ClusterChange` is what another tool does
to the cluster between the bot's GET and its PUT, applied as an already finished write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from meshsim.arm.rp import JSON, AgentPool, Cluster, RpError, new_etag

# AKS's limits on a pool's node count (the SDK's ManagedClusterAgentPoolProfile.count doc).
MAX_POOL_COUNT = 1000


@dataclass(frozen=True)
class ClusterChange:
    """Tags to set (a None value removes the tag) and agent pool counts, by pool name."""

    tags: Mapping[str, str | None] = field(default_factory=dict)
    pool_counts: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, spec: Mapping[str, Any]) -> ClusterChange:
        """`{"tags": {"team": "mesh", "old": null}, "agentPoolCounts": {"nodepool1": 5}}`."""
        tags, counts = spec.get("tags") or {}, spec.get("agentPoolCounts") or {}
        if not isinstance(tags, dict) or not isinstance(counts, dict):
            raise RpError(400, "InvalidRequestContent",
                          "tags and agentPoolCounts must be JSON objects.")
        return cls({str(k): None if v is None else str(v) for k, v in tags.items()},
                   {str(k): _count(v) for k, v in counts.items()})


def check_if_match(c: Cluster, if_match: str | None) -> None:
    """412 when `If-Match` names another eTag; `*` matches any existing cluster."""
    if if_match is None or if_match.strip() in ("", "*"):
        return
    given = if_match.strip().removeprefix("W/").strip('"')
    if given != c.etag:
        # The code is the one use-etags.md names for this case; AKS's wording is not published.
        raise RpError(
            412,
            "PreConditionFailed",
            f"The eTag '{given}' in the If-Match header does not match the latest eTag "
            f"'{c.etag}' of managed cluster '{c.name}'. GET the cluster again to read it.",
        )


def carried_by_put(c: Cluster, body: JSON) -> ClusterChange:
    """What a PUT changes besides the mesh profile: its tags replace the cluster's, and each
    pool's `count` in `properties.agentPoolProfiles` is applied (AKS scales the pool, as
    `az aks scale` does through this PUT). A pool or count the body leaves out stays."""
    tags = body.get("tags") or {}
    if not isinstance(tags, dict):
        raise RpError(400, "InvalidRequestContent", "tags must be a JSON object.")
    replaced: dict[str, str | None] = {key: None for key in c.tags}
    replaced.update({str(k): str(v) for k, v in tags.items()})
    profiles = (body.get("properties") or {}).get("agentPoolProfiles")
    counts = {str(p.get("name")): _count(p["count"]) for p in profiles
              if isinstance(p, dict) and p.get("count") is not None
              } if isinstance(profiles, list) else {}
    return ClusterChange(replaced, counts)


def apply(c: Cluster, change: ClusterChange) -> None:
    """Apply `change` as one cluster-level write: new eTags for the cluster and its pools."""
    pools = _pools_by_name(c, change.pool_counts)
    for name, count in change.pool_counts.items():
        pools[name].count = count
    for key, value in change.tags.items():
        if value is None:
            c.tags.pop(key, None)
        else:
            c.tags[key] = value
    touch(c)


def check(c: Cluster, change: ClusterChange) -> None:
    """Raise the 400 `apply` would, without changing anything."""
    _pools_by_name(c, change.pool_counts)


def touch(c: Cluster) -> None:
    """A cluster-level write updates the cluster's eTag and every pool's (use-etags.md)."""
    c.etag = new_etag()
    for pool in c.pools:
        pool.etag = new_etag()


def _pools_by_name(c: Cluster, counts: Mapping[str, int]) -> dict[str, AgentPool]:
    pools = {p.name: p for p in c.pools}
    for name, count in counts.items():
        pool = pools.get(name)
        if pool is None:  # AKS would create the pool; the simulator does not model that
            raise RpError(400, "BadRequest",
                          f"meshsim does not simulate adding agent pool '{name}' to "
                          f"managed cluster '{c.name}'.")
        if pool.mode == "System" and count < 1:
            raise RpError(400, "InvalidParameter",
                          f"Agent pool '{name}' is a System pool: its count must be in the "
                          f"range of 1 to {MAX_POOL_COUNT} (inclusive).")
    return pools


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_POOL_COUNT:
        raise RpError(400, "InvalidParameter",
                      f"An agent pool's count must be an integer in the range of 0 to "
                      f"{MAX_POOL_COUNT} (inclusive), not {value!r}.")
    return value
