"""Benchmark: the sidecar census against meshsim's `large` cluster (20,000 pods), side by side
with the seed's kubectl pipeline, the kubernetes client's model objects and a bare page loop;
plus the API requests a restart wave spends per restarted workload.

    .venv/bin/python bench/census.py [--repeat 3] [--wave 40] [--speed 50]

The simulator runs in its own process (`python -m meshsim serve --scenario large`). Every step
runs in a fresh child process, which reports its own time and peak RSS (ru_maxrss), so one
step's memory never inflates another's. Targets (issue): census <= 1/5 of kubectl's time,
peak RSS <= 150 MB, and <= 1.3x the bare fetch-and-parse loop.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JSONPATH = ('{range .items[*]}{"\\n"}{.metadata.name}{":\\t"}'
            '{range .spec.containers[*]}{.image}{", "}{end}{end}')
SEED_PIPELINE = ("kubectl --kubeconfig {kc} --cache-dir {cache} get pods --all-namespaces "
                 "-o jsonpath='{jp}' | sort | grep 'mcr.microsoft.com\\/oss\\/istio\\/proxyv2'")
STEPS = ("kubectl", "models", "bare", "bare_nogc", "census")


# ---- steps, each run in its own child process ---------------------------------------------
def _client(kubeconfig: str) -> Any:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration)


def step_kubectl(kubeconfig: str) -> dict[str, Any]:
    cache = tempfile.mkdtemp(prefix="kubectl-cache-")
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--cache-dir", cache, "get", "ns",
                    "-o", "name"], check=True, capture_output=True)  # warm discovery, as a user's
    command = SEED_PIPELINE.format(kc=kubeconfig, cache=cache, jp=JSONPATH)
    start = time.perf_counter()
    out = subprocess.run(["bash", "-c", command], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "rss_mb": rss, "pods": len(out.stdout.splitlines())}


def step_models(kubeconfig: str) -> dict[str, Any]:
    from kubernetes import client

    core = client.CoreV1Api(_client(kubeconfig))
    start, pods, token = time.perf_counter(), 0, None
    while True:
        page = core.list_pod_for_all_namespaces(limit=500, _continue=token)
        pods += len(page.items)
        token = page.metadata._continue if page.metadata else None
        if not token:
            break
    return {"seconds": time.perf_counter() - start, "pods": pods}


def step_bare(kubeconfig: str) -> dict[str, Any]:
    import orjson
    from kubernetes import client

    core = client.CoreV1Api(_client(kubeconfig))
    start, pods, token = time.perf_counter(), 0, None
    while True:
        extra: dict[str, Any] = {"_continue": token} if token else {}
        response: Any = core.list_pod_for_all_namespaces(limit=500, _preload_content=False,
                                                         **extra)
        page = orjson.loads(response.data)
        pods += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            break
    return {"seconds": time.perf_counter() - start, "pods": pods}


def step_bare_nogc(kubeconfig: str) -> dict[str, Any]:
    """The bare loop with the cyclic GC paused around each parse, as the census does."""
    import gc

    gc.disable()
    return step_bare(kubeconfig)


def step_census(kubeconfig: str) -> dict[str, Any]:
    from bot.kube.cluster import Cluster

    cluster = Cluster.from_api_client(_client(kubeconfig), "mesh-bot")
    start = time.perf_counter()
    census = cluster.census.take()
    return {"seconds": time.perf_counter() - start, "pods": census.pods,
            "by_revision": census.by_revision, "drift": len(census.drift),
            "requests": cluster.io.requests}


def step_wave(kubeconfig: str, kube_url: str, count: int) -> dict[str, Any]:
    from bot.kube.cluster import Cluster
    from bot.kube.restarts import restart_stamp
    from bot.upgrade.cluster_facts import WorkloadRef

    cluster = Cluster.from_api_client(_client(kubeconfig), "mesh-bot")
    on_stable = [w for w in cluster.census.take().workloads_on("asm-1-22") if w.restartable]
    workloads: list[WorkloadRef] = on_stable[:count]
    urllib.request.urlopen(urllib.request.Request(f"{kube_url}/_sim/requests", method="DELETE"))
    report = cluster.restarts.run_wave(workloads, restart_stamp(), concurrency=10)
    with urllib.request.urlopen(f"{kube_url}/_sim/requests") as answer:
        served = json.load(answer)
    verbs: dict[str, int] = {}
    for record in served:
        verbs[record["verb"]] = verbs.get(record["verb"], 0) + 1
    return {"workloads": len(workloads), "done": len(report.done),
            "stuck": str(report.stuck) if report.stuck else None,
            "client_requests": report.requests, "server_requests": len(served),
            "by_verb": verbs, "per_workload": len(served) / max(1, len(report.done))}


def run_step(args: argparse.Namespace) -> None:
    if args.step == "wave":
        result = step_wave(args.kubeconfig, args.kube_url, args.wave)
    else:
        result = globals()[f"step_{args.step}"](args.kubeconfig)
        result.setdefault("rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


# ---- the driver ---------------------------------------------------------------------------
def child(step: str, kubeconfig: str, kube_url: str = "", wave: int = 0) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--step", step, "--kubeconfig", kubeconfig,
                          "--kube-url", kube_url, "--wave", str(wave)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def start_simulator(speed: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    print(f"starting meshsim (scenario large, speed {speed:g}) ...", flush=True)
    begun = time.perf_counter()
    sim = subprocess.Popen([sys.executable, "-m", "meshsim", "serve", "--scenario", "large",
                            "--speed", str(speed)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert sim.stdout is not None
    line = sim.stdout.readline()
    if not line:
        sim.wait()
        raise SystemExit("meshsim exited before printing its endpoints")
    print(f"  ready in {time.perf_counter() - begun:.1f} s", flush=True)
    return sim, json.loads(line)


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    rows = {step: (statistics.median(r["seconds"] for r in runs),
                   max(r["rss_mb"] for r in runs), runs[0]["pods"])
            for step, runs in results.items()}
    labels = {"kubectl": "(1) seed kubectl | sort | grep", "models": "(2) client models, paged",
              "bare": "(3) bare page loop (orjson)", "bare_nogc": "(3b) bare loop, GC paused",
              "census": "(4) bot census"}
    print(f"\n{'step':34} {'median s':>9} {'peak RSS MB':>12} {'pods/lines':>11}")
    for step, (seconds, rss, pods) in rows.items():
        print(f"{labels[step]:34} {seconds:9.2f} {rss:12.1f} {pods:11}")
    census_s, census_rss = rows["census"][0], rows["census"][1]
    checks = [("census / kubectl time", census_s / rows["kubectl"][0], 0.2),
              ("census / bare loop time", census_s / rows["bare"][0], 1.3),
              ("census / bare GC-paused time", census_s / rows["bare_nogc"][0], 1.3),
              ("census peak RSS MB", census_rss, 150.0)]
    print()
    for name, value, target in checks:
        verdict = "ok" if value <= target else "MISSED"
        print(f"{name:28} {value:8.3f}  target <= {target:g}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--step", choices=(*STEPS, "wave"))
    parser.add_argument("--kubeconfig", default="")
    parser.add_argument("--kube-url", default="")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wave", type=int, default=40)
    parser.add_argument("--speed", type=float, default=50.0)
    args = parser.parse_args()
    if args.step:
        run_step(args)
        return
    sim, described = start_simulator(args.speed)
    try:
        cluster = described["clusters"][0]
        kubeconfig, kube_url = cluster["kubeconfig"], cluster["kube_url"]
        results: dict[str, list[dict[str, Any]]] = {step: [] for step in STEPS}
        for round_ in range(args.repeat):
            for step in STEPS:
                results[step].append(child(step, kubeconfig))
            print(f"  round {round_ + 1}: " + ", ".join(
                f"{s} {results[s][-1]['seconds']:.2f}s" for s in STEPS), flush=True)
        report(results)
        census = results["census"][-1]
        print(f"\ncensus: {census['pods']} pods, by revision {census['by_revision']}, "
              f"drift {census['drift']}, {census['requests']} API requests")
        wave = child("wave", kubeconfig, kube_url, args.wave)
        print(f"restart wave: {wave['done']}/{wave['workloads']} workloads done, "
              f"stuck={wave['stuck']}; server saw {wave['server_requests']} requests "
              f"(client counted {wave['client_requests']}) = {wave['per_workload']:.2f} per "
              f"restarted workload; by verb {wave['by_verb']}")
    finally:
        sim.terminate()
        sim.wait(timeout=30)


if __name__ == "__main__":
    main()
