"""Benchmark: what one traffic gate costs for a wave of 200 workloads.

    .venv/bin/python bench/gates.py [--workloads 200] [--rounds 5] [--window 10]

meshsim serves a cluster with bookinfo plus one namespace of N meshed Deployments, a real
Prometheus (Debian's) scrapes its proxies every second, and the bot's own adapter
(bot/prom/source.py, as the workflow uses it) reads the wave's golden signals: a gate is two
reads (the baseline before the wave, the observation after it), each three aggregated PromQL
queries whatever N is. Reported: queries per read, the time of a read (median and worst of
the rounds), and the time Prometheus spends evaluating them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config.gates import MetricsSourceConfig  # noqa: E402
from bot.prom.source import connect_traffic  # noqa: E402
from bot.traffic.signals import Window, WorkloadKey  # noqa: E402
from meshsim.kube import scenarios  # noqa: E402
from meshsim.prometheus import PrometheusServer  # noqa: E402
from meshsim.sim import MeshSim  # noqa: E402

NAMESPACE = "wave"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--window", type=float, default=10.0, help="real seconds per read")
    args = ap.parse_args()
    if not PrometheusServer.available():
        print("prometheus is not on the PATH (apt-get install prometheus)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, MeshSim("bookinfo", 20.0, Path(tmp)) as sim:
        kube = sim.clusters["aks-sandbox"]
        with kube.settled():
            scenarios.namespace(kube, NAMESPACE, {scenarios.REV: "asm-1-22"})
            for i in range(args.workloads):
                kube.create(scenarios.deployment(NAMESPACE, f"svc-{i:03d}",
                                                 f"contoso.azurecr.io/svc-{i:03d}:1.0", 1))
        started = time.perf_counter()
        with PrometheusServer(sim.describe()["telemetry"], Path(tmp) / "prom") as prom:
            print(f"Prometheus ready with its first scrape in {time.perf_counter() - started:.1f} s"
                  f"; waiting {args.window:g} s for a full window")
            time.sleep(args.window + 1)
            source = connect_traffic(MetricsSourceConfig(url=prom.url,
                                                         labels={"cluster": "aks-sandbox"}))
            wave = [WorkloadKey(NAMESPACE, f"svc-{i:03d}") for i in range(args.workloads)]
            times, judged = [], 0
            for _ in range(args.rounds):
                before = source.queries
                began = time.perf_counter()
                got = source.read(wave, Window(datetime.now(UTC), args.window))
                times.append(time.perf_counter() - began)
                per_read = source.queries - before
                judged = sum(1 for s in got.values() if s.requests > 0)
            source.close()
    print(f"wave of {args.workloads} workloads, {args.window:g} s window, {args.rounds} rounds")
    print(f"  queries per read: {per_read} (a gate is 2 reads: {2 * per_read} queries)")
    print(f"  read time: median {statistics.median(times) * 1000:.0f} ms, "
          f"worst {max(times) * 1000:.0f} ms (a gate: about "
          f"{2 * statistics.median(times) * 1000:.0f} ms of queries)")
    print(f"  workloads with figures: {judged} of {args.workloads}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
