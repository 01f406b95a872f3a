"""`python -m meshsim serve` as a new user runs it: one JSON line, then real clients work."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.containerservice import ContainerServiceClient
from slack_sdk import WebClient

from tests.sim_bot import credential


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("serve")
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshsim", "serve", "--scenario", "fleet", "--speed", "20",
         "--workdir", str(workdir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def kubectl(kubeconfig: str, cache: Path, *args: str) -> str:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--cache-dir", str(cache), *args],
                          check=True, capture_output=True, text=True, timeout=30).stdout


def test_serve_prints_every_endpoint_on_one_line(served: dict[str, Any]) -> None:
    names = [c["name"] for c in served["clusters"]]
    assert names[:3] == ["aks-dev-1", "aks-dev-2", "aks-staging-1"] and len(names) == 8
    revisions = [c["revisions"] for c in served["clusters"]]
    assert revisions[:3] == [["asm-1-22"], ["asm-1-24"], ["asm-1-23"]]
    assert Path(served["arm"]["ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert served["slack"]["bot"].startswith("xoxb-") and served["slack"]["signing_secret"]


def test_kubectl_reaches_each_cluster_through_the_printed_kubeconfig(
        served: dict[str, Any], tmp_path: Path) -> None:
    pods = kubectl(served["kubeconfig"], tmp_path, "get", "pods", "-n", "aks-istio-system",
                   "-o", "jsonpath={.items[*].metadata.name}")
    assert "istiod-asm-1-22-" in pods
    staging = kubectl(served["kubeconfig"], tmp_path, "--context", "aks-staging-1", "get",
                      "pods", "-n", "shop", "-o", "json")
    statuses = [json.loads(p["metadata"]["annotations"]["sidecar.istio.io/status"])
                for p in json.loads(staging)["items"]]
    assert statuses and {s["revision"] for s in statuses} == {"asm-1-23"}


def test_arm_client_sees_the_clusters_with_the_printed_ca(served: dict[str, Any]) -> None:
    cluster = served["clusters"][0]
    client = ContainerServiceClient(credential(served), cluster["subscription_id"],
                                    base_url=served["arm"]["url"],
                                    connection_verify=served["arm"]["ca_file"])
    mc = client.managed_clusters.get(cluster["resource_group"], cluster["name"])
    assert mc.service_mesh_profile.istio.revisions == ["asm-1-22"]
    profile = client.managed_clusters.get_mesh_upgrade_profile(cluster["resource_group"],
                                                                cluster["name"], "istio")
    assert "asm-1-23" in profile.properties.upgrades


def test_slack_page_and_web_api_answer_with_the_printed_tokens(served: dict[str, Any]) -> None:
    client = WebClient(token=served["slack"]["bot"], base_url=served["slack"]["api_url"])
    assert client.auth_test()["user_id"] == "U0MESHBOT"
    with urllib.request.urlopen(served["slack"]["page"], timeout=10) as page:
        assert b'id="composer"' in page.read()
