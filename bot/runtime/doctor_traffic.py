"""doctor's checks of a cluster's traffic gates: does the metrics source answer, and does it
hold Istio's request series under the configured labels (none is a warning: gates would have
no verdict, which never passes). Rows go through doctor's `add` and `warn`, so this module
needs nothing of doctor's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.config.settings import ClusterConfig
from bot.prom.source import connect_traffic

if TYPE_CHECKING:
    from bot.azure.connect import ArmEndpoint

Add = Callable[[str, bool, str], None]  # check, ok, detail
Warn = Callable[[str, str], None]  # check, detail


def check_traffic(cfg: ClusterConfig, arm: ArmEndpoint, add: Add, warn: Warn) -> None:
    """Two rows for a cluster with traffic gates, none for one without."""
    if cfg.traffic is None:
        return
    source = connect_traffic(cfg.traffic.source, arm.kube_tokens())
    try:
        probe = source.probe()
    finally:
        source.close()
    name, labels = cfg.name, cfg.traffic.source.labels
    add(f"traffic {name}: source", probe.answered, probe.detail)
    if not probe.answered:
        return
    check = f"traffic {name}: istio series"
    if probe.istio_series:
        add(check, True, f"{probe.istio_series} istio_requests_total series "
            f"(reporter=destination) for labels {labels}")
    else:
        warn(check, f"no istio_requests_total for labels {labels}: is Prometheus scraping "
             "the proxies (Istio's merged metrics on port 15020), or is `labels` right?")
