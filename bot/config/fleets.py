"""Fleets: one upgrade across many clusters in rings (dev, staging, prod ...), each ring a set
of clusters configured under `clusters:`, with how many may upgrade at once, how long the ring
soaks after its last cluster completes, and who approves promotion to the next ring (never the
requester). A fleet's change windows are the default of its clusters without their own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field, model_validator

from bot.config.fields import ApprovalConfig, ChannelId, ConfigModel, Duration
from bot.config.gates import ChangeWindowsConfig
from bot.fleet.plan import OnUnfit, Ring

_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class RingConfig(ConfigModel):
    name: str = Field(pattern=_NAME)
    clusters: tuple[str, ...] = Field(min_length=1)
    max_parallel: int = Field(default=1, ge=1, le=50)
    soak: Duration = timedelta(hours=1)  # after the ring's last cluster completes


class FleetConfig(ConfigModel):
    name: str = Field(pattern=_NAME)
    channel: ChannelId  # the fleet's card
    rings: tuple[RingConfig, ...] = Field(min_length=1)
    target: str | None = Field(default=None, pattern=r"^asm-\d+-\d+$")  # None: give --to
    promotion: ApprovalConfig  # who approves each promotion to the next ring
    on_unfit: OnUnfit = OnUnfit.SKIP  # a cluster that cannot take the target
    change_windows: ChangeWindowsConfig | None = None  # for clusters without their own

    @model_validator(mode="after")
    def _rings(self) -> FleetConfig:
        names = [r.name for r in self.rings]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"ring names must be unique in a fleet; repeated: {dupes}")
        clusters = [c for r in self.rings for c in r.clusters]
        if dupes := sorted({c for c in clusters if clusters.count(c) > 1}):
            raise ValueError(f"a cluster belongs to one ring of a fleet; repeated: {dupes}")
        return self

    def ring_specs(self) -> tuple[Ring, ...]:
        return tuple(Ring(r.name, r.clusters, r.max_parallel) for r in self.rings)

    @property
    def clusters(self) -> tuple[str, ...]:
        return tuple(c for r in self.rings for c in r.clusters)


def with_fleet_windows(data: Any) -> Any:
    """The raw configuration with each fleet's change windows copied to its clusters that have
    none of their own (before validation, so the clusters' models stay frozen)."""
    if not isinstance(data, dict) or not isinstance(data.get("fleets"), list):
        return data
    clusters = [dict(c) if isinstance(c, dict) else c for c in data.get("clusters") or []]
    for fleet in data["fleets"]:
        windows = fleet.get("change_windows") if isinstance(fleet, dict) else None
        if windows is None:
            continue
        members = {name for ring in fleet.get("rings") or [] if isinstance(ring, dict)
                   for name in ring.get("clusters") or []}
        for c in clusters:
            if isinstance(c, dict) and c.get("name") in members and \
                    c.get("change_windows") is None:
                c["change_windows"] = windows
    return {**data, "clusters": clusters}
