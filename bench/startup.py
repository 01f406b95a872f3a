"""Benchmark: how fast the command line starts, as whole processes (startup included).

    .venv/bin/python bench/startup.py [--repeat 5] [--speed 50]

1. `mesh-upgrade-bot --help` beside a bare `python -c pass` (target: <= 0.3 s).
2. `mesh-upgrade-bot census --json` on meshsim's `large` cluster (20,000 pods) beside the seed's
   kubectl pipeline (`kubectl get pods -A -o jsonpath=... | sort | grep proxyv2`), both as
   whole processes from a shell (target: census <= 1/5 of kubectl's time).
3. Which top-level packages `--help` and `census` import (none of matplotlib, azure, slack,
   sqlalchemy may load for either).

The simulator runs in its own process (`python -m meshsim serve --scenario large`); medians of
`--repeat` runs are reported, each run after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.census import JSONPATH, SEED_PIPELINE, start_simulator  # noqa: E402

BOT = str(Path(sys.executable).with_name("mesh-upgrade-bot"))
HEAVY = ("matplotlib", "azure", "slack_sdk", "slack_bolt", "sqlalchemy", "pydantic",
         "apscheduler", "prometheus_client")


def timed(argv: list[str], repeat: int, shell: bool = False) -> tuple[float, str]:
    """Median wall time of `argv` (after one warm-up run) and the last run's stdout."""
    out = ""
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        done = subprocess.run(argv if not shell else argv[0], shell=shell, check=True,
                              capture_output=True, text=True, cwd=ROOT)
        if i:
            times.append(time.perf_counter() - start)
        out = done.stdout
    return statistics.median(times), out


def loaded_packages(args: list[str]) -> set[str]:
    """Top-level packages imported by `mesh-upgrade-bot ARGS` (python -X importtime)."""
    code = ("import sys; from bot.cli.main import main; sys.argv[0] = 'mesh-upgrade-bot'\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    names = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return {n for n in names if n in HEAVY or n == "kubernetes"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--speed", type=float, default=50.0)
    args = parser.parse_args()
    bare, _ = timed([sys.executable, "-c", "pass"], args.repeat)
    help_s, _ = timed([BOT, "--help"], args.repeat)
    print(f"{'python -c pass':44} {bare:8.3f} s")
    print(f"{'mesh-upgrade-bot --help':44} {help_s:8.3f} s   target <= 0.3 s  "
          f"{'ok' if help_s <= 0.3 else 'MISSED'}")
    print(f"  --help loads: {sorted(loaded_packages(['--help'])) or 'no heavy package'}")
    sim, described = start_simulator(args.speed)
    try:
        kubeconfig = described["clusters"][0]["kubeconfig"]
        cache = tempfile.mkdtemp(prefix="kubectl-cache-")
        pipeline = SEED_PIPELINE.format(kc=kubeconfig, cache=cache, jp=JSONPATH)
        kubectl_s, lines = timed([pipeline], args.repeat, shell=True)
        census_s, out = timed([BOT, "census", "--kubeconfig", kubeconfig, "--json"],
                              args.repeat)
        pods = out.count('"pod":')
        ratio = census_s / kubectl_s
        print(f"{'seed kubectl pipeline (whole processes)':44} {kubectl_s:8.3f} s   "
              f"{len(lines.splitlines())} lines")
        print(f"{'mesh-upgrade-bot census --json (process)':44} {census_s:8.3f} s   "
              f"{pods} drifted pods listed")
        print(f"{'census / kubectl':44} {ratio:8.3f}     target <= 0.2  "
              f"{'ok' if ratio <= 0.2 else 'MISSED'}")
        used = loaded_packages(["census", "--kubeconfig", kubeconfig])
        print(f"  census loads: {sorted(used)}")
    finally:
        sim.terminate()
        sim.wait(timeout=30)


if __name__ == "__main__":
    main()
