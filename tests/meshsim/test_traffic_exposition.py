"""The telemetry server's exposition: Istio's metric and label names in Prometheus' text format,
counters that follow the simulated clock and the pods serving, and the bad-proxy control."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from meshsim.sim import MeshSim
from meshsim.traffic.profile import BUCKETS

ISTIO_LABELS = {
    "reporter", "source_workload", "source_workload_namespace", "source_principal", "source_app",
    "source_version", "source_canonical_service", "source_canonical_revision", "source_cluster",
    "destination_workload", "destination_workload_namespace", "destination_principal",
    "destination_app", "destination_version", "destination_service",
    "destination_service_name", "destination_service_namespace",
    "destination_canonical_service", "destination_canonical_revision", "destination_cluster",
    "request_protocol", "response_code", "grpc_response_status", "response_flags",
    "connection_security_policy"}


def _get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.headers["Content-Type"], answer.read().decode()


def _control(sim: MeshSim, method: str, body: Any = None) -> tuple[int, Any]:
    url = f"{sim.clusters['aks-sandbox'].url}/_sim/kube/faults/bad-proxy"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _requests(text: str) -> dict[tuple[str, str, str], float]:
    """istio_requests_total (destination reporter) by (destination workload, code, flags)."""
    out: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "istio_requests_total" and labels["reporter"] == "destination":
                key = (labels["destination_workload"], labels["response_code"],
                       labels["response_flags"])
                out[key] = out.get(key, 0.0) + sample.value
    return out


def test_exposition_has_istios_metrics_labels_and_buckets(tmp_path: Any) -> None:
    with MeshSim("bookinfo", speed=20, workdir=tmp_path) as sim:
        telemetry = sim.describe()["telemetry"]
        assert telemetry["clusters"] == {"aks-sandbox": "/clusters/aks-sandbox/metrics"}
        content_type, text = _get(telemetry["url"] + telemetry["clusters"]["aks-sandbox"])
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["istio_requests"].type == "counter"
    histogram = families["istio_request_duration_milliseconds"]
    assert histogram.type == "histogram"
    for family in families.values():
        assert all(set(s.labels) - {"le"} == ISTIO_LABELS for s in family.samples)
    les = {s.labels["le"] for s in histogram.samples if s.name.endswith("_bucket")}
    assert {float(le) for le in les} == {*map(float, BUCKETS), float("inf")}
    details = next(s.labels for s in families["istio_requests"].samples
                   if s.labels["destination_workload"] == "details-v1")
    assert details["source_workload"] == "productpage-v1"
    assert details["destination_principal"] == (
        "spiffe://cluster.local/ns/default/sa/bookinfo-details")
    assert details["destination_service"] == "details.default.svc.cluster.local"


def test_bad_proxy_fails_requests_served_on_its_revision_and_clears(tmp_path: Any) -> None:
    with MeshSim("bookinfo", speed=50, workdir=tmp_path) as sim:
        assert sim.telemetry is not None
        sim.telemetry.scrape("aks-sandbox")
        assert _control(sim, "POST", {"revision": "asm-1-22", "error_ratio": 2})[0] == 400
        assert _control(sim, "POST", {"error_ratio": 0.2})[0] == 400
        status, faults = _control(sim, "POST", {"revision": "asm-1-22", "error_ratio": 0.2,
                                                "extra_latency_ms": 250})
        assert status == 201 and faults["bad-proxy"] == [
            {"revision": "asm-1-22", "error_ratio": 0.2, "extra_latency_ms": 250.0}]
        time.sleep(0.4)
        faulty = _requests(sim.telemetry.scrape("aks-sandbox"))
        assert _control(sim, "DELETE")[1] == {"never-ready": [], "crashloop": []}
        time.sleep(0.4)
        healed = _requests(sim.telemetry.scrape("aks-sandbox"))
    failed = faulty[("details-v1", "503", "UF")]
    served = sum(v for (w, _, _), v in faulty.items() if w == "details-v1")
    assert abs(failed / served - 0.2) < 0.01
    assert healed[("details-v1", "503", "UF")] == failed  # no more 503s once cleared
    assert healed[("details-v1", "200", "-")] > faulty[("details-v1", "200", "-")]
    ratings = sum(v for (w, _, _), v in healed.items() if w == "ratings-v1")
    assert ratings < served / 100  # too little traffic to judge


def test_a_workload_without_ready_pods_serves_nothing(tmp_path: Any) -> None:
    with MeshSim("bookinfo", speed=50, workdir=tmp_path) as sim:
        assert sim.telemetry is not None
        kube = sim.clusters["aks-sandbox"]
        first = _requests(sim.telemetry.scrape("aks-sandbox"))
        time.sleep(0.3)
        before = _requests(sim.telemetry.scrape("aks-sandbox"))
        kube.set_pod_fault("never-ready", "asm-1-22")  # the kubelet's probes fail from now on
        kube.settle()
        unready = _requests(sim.telemetry.scrape("aks-sandbox"))
        time.sleep(0.3)
        after = _requests(sim.telemetry.scrape("aks-sandbox"))
    assert before[("details-v1", "200", "-")] > first[("details-v1", "200", "-")]
    assert after[("details-v1", "200", "-")] == unready[("details-v1", "200", "-")]
