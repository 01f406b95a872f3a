"""A real Prometheus scraping meshsim's mesh traffic: PromQL sees the success rate and latency
move with the bad-proxy fault and with pods moving between revisions; Azure Monitor's query
endpoint answers the tenant's Prometheus tokens only."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests  # type: ignore[import-untyped]
from azure.identity import ClientSecretCredential

from meshsim.prometheus import PrometheusServer
from meshsim.sim import MeshSim, azure_environment
from tests.meshsim.traffic_env import MeshEnv, mesh, require_prometheus

__all__ = ["mesh"]
DETAILS, PRODUCTPAGE = ("default", "details-v1"), ("default", "productpage-v1")
MONITOR_SCOPE = "https://prometheus.monitor.azure.com/.default"


def _kubectl(env: MeshEnv, tmp: Path, *args: str) -> str:
    done = subprocess.run(["/usr/bin/kubectl", "--cache-dir", str(tmp / "kcache"), *args],
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, "KUBECONFIG": str(env.sim.kubeconfig)})
    return done.stdout


def test_promql_success_rate_and_p99_follow_the_bad_proxy_fault(mesh: MeshEnv) -> None:
    mesh.settle(lambda: mesh.success().get(DETAILS, 0) > 0.99)
    healthy_p99 = mesh.p99()[DETAILS]
    mesh.sim.clusters["aks-sandbox"].set_bad_proxy("asm-1-22", 0.2, 250)
    mesh.settle(lambda: abs(mesh.success().get(DETAILS, 0) - 0.8) < 0.02)
    assert mesh.p99()[DETAILS] > healthy_p99 + 150
    rates = mesh.query('sum by (destination_workload_namespace, destination_workload) '
                       '(increase(istio_requests_total{reporter="destination"}[4s]))')
    assert rates[("default", "ratings-v1")] < rates[DETAILS] / 100  # no verdict possible
    mesh.sim.clusters["aks-sandbox"].clear_bad_proxy()
    mesh.settle(lambda: mesh.success().get(DETAILS, 0) > 0.99)
    mesh.settle(lambda: mesh.p99()[DETAILS] < healthy_p99 + 50)


def test_pods_moved_to_a_bad_revision_move_the_numbers(mesh: MeshEnv, tmp_path: Path) -> None:
    kube = mesh.sim.clusters["aks-sandbox"]
    kube.set_revisions(["asm-1-22", "asm-1-23"])
    kube.set_bad_proxy("asm-1-23", 0.5, 0)
    _kubectl(mesh, tmp_path, "label", "namespace", "default", "istio.io/rev=asm-1-23",
             "--overwrite")
    _kubectl(mesh, tmp_path, "rollout", "restart", "deployment/productpage-v1", "-n", "default")
    mesh.settle(lambda: abs(mesh.success().get(PRODUCTPAGE, 0) - 0.5) < 0.03, timeout=30)
    assert mesh.success()[DETAILS] > 0.99  # still on asm-1-22
    pods = _kubectl(mesh, tmp_path, "get", "pods", "-n", "default", "-o", "name")
    assert "pod/productpage-v1-" in pods


def test_azure_monitor_answers_the_tenants_prometheus_tokens_only(mesh: MeshEnv) -> None:
    endpoint = mesh.sim.start_azure_monitor(mesh.prometheus.url)
    described = mesh.sim.describe()
    assert described["azure_monitor"]["query_endpoint"] == endpoint
    env = azure_environment(described)
    credential = ClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"],
                                        env["AZURE_CLIENT_SECRET"],
                                        authority=env["AZURE_AUTHORITY_HOST"],
                                        disable_instance_discovery=True,
                                        connection_verify=env["REQUESTS_CA_BUNDLE"])
    token = credential.get_token(MONITOR_SCOPE).token
    arm_token = credential.get_token("https://management.azure.com/.default").token
    query = {"query": "sum(istio_requests_total)"}
    ca = described["azure_monitor"]["ca_file"]
    with requests.Session() as http:
        ok = http.post(f"{endpoint}/api/v1/query", data=query,
                       headers={"Authorization": f"Bearer {token}"}, verify=ca, timeout=10)
        labels = http.get(f"{endpoint}/api/v1/label/destination_workload/values",
                          headers={"Authorization": f"Bearer {token}"}, verify=ca, timeout=10)
        missing = http.get(f"{endpoint}/api/v1/query", params=query, verify=ca, timeout=10)
        wrong = http.get(f"{endpoint}/api/v1/query", params=query,
                         headers={"Authorization": f"Bearer {arm_token}"}, verify=ca,
                         timeout=10)
        other = http.get(f"{endpoint}/-/ready", headers={"Authorization": f"Bearer {token}"},
                         verify=ca, timeout=10)
    assert ok.status_code == 200 and ok.json()["data"]["result"]
    assert "details-v1" in labels.json()["data"]
    assert missing.status_code == wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer ")
    assert "audience" in wrong.json()["error"]["message"]
    assert other.status_code == 404


def test_prometheus_starts_quickly_with_every_cluster_scraped(tmp_path: Path) -> None:
    require_prometheus()
    with MeshSim("fleet", speed=20, workdir=tmp_path / "sim") as sim:
        started = time.monotonic()
        with PrometheusServer(sim.describe()["telemetry"], tmp_path / "prom") as prometheus:
            took = time.monotonic() - started
            targets = prometheus.get("/api/v1/targets")["data"]["activeTargets"]
    assert {t["labels"]["cluster"] for t in targets} == set(sim.clusters) and len(targets) == 8
    assert took < 10, f"prometheus took {took:.1f}s to be ready"


@pytest.mark.parametrize("binary", ["/nonexistent/prometheus"])
def test_a_prometheus_that_cannot_start_says_why(tmp_path: Path, binary: str) -> None:
    server = PrometheusServer({"url": "http://127.0.0.1:1", "clusters": {}}, tmp_path, 1.0, binary)
    with pytest.raises(OSError):
        server.start()
