"""A MeshSim (bookinfo, fast clock) and a real Prometheus scraping its telemetry server, for the
`test_traffic_*` modules, with PromQL helpers. Prometheus is Debian's (`.ci/run` installs it);
with MESH_UPGRADE_REQUIRE_PROMETHEUS set (CI) a missing binary fails instead of skipping.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshsim.prometheus import PrometheusServer
from meshsim.sim import MeshSim
from tests.prom_env import prometheus_binary

SPEED = 20.0
WINDOW = "4s"  # rate() window in real seconds: four scrapes at 1 s
SUCCESS = ('sum by (destination_workload_namespace, destination_workload) (rate(istio_requests_'
           'total{{reporter="destination",response_code!~"5..",{sel}}}[{w}])) / sum by (destinat'
           'ion_workload_namespace, destination_workload) (rate(istio_requests_total{{reporter='
           '"destination",{sel}}}[{w}]))')
P99 = ('histogram_quantile(0.99, sum by (le, destination_workload_namespace, destination_workload) '
       '(rate(istio_request_duration_milliseconds_bucket{{reporter="destination",{sel}}}[{w}])))')


def require_prometheus() -> None:
    """Skip (locally) or fail (CI) when Debian's prometheus is missing."""
    prometheus_binary()


@dataclass
class MeshEnv:
    sim: MeshSim
    prometheus: PrometheusServer

    def query(self, promql: str) -> dict[tuple[str, str], float]:
        """An instant query's vector by (namespace, workload)."""
        url = f"{self.prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as answer:
            body: dict[str, Any] = json.loads(answer.read())
        return {(r["metric"].get("destination_workload_namespace", ""),
                 r["metric"].get("destination_workload", "")): float(r["value"][1])
                for r in body["data"]["result"]}

    def success(self, selector: str = 'destination_workload_namespace="default"'
                ) -> dict[tuple[str, str], float]:
        return self.query(SUCCESS.format(sel=selector, w=WINDOW))

    def p99(self, selector: str = 'destination_workload_namespace="default"'
            ) -> dict[tuple[str, str], float]:
        return self.query(P99.format(sel=selector, w=WINDOW))

    def settle(self, check: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until `check()` holds (the window has moved past a change)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise AssertionError("the metrics did not get there in time")


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[MeshEnv]:
    require_prometheus()
    with MeshSim("bookinfo", speed=SPEED, workdir=tmp_path / "sim") as sim:
        described = sim.describe()
        with PrometheusServer(described["telemetry"], tmp_path / "prom") as prometheus:
            yield MeshEnv(sim, prometheus)
