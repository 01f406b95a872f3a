"""What a platform team expects of the install beyond the bot's own needs: the recommended
labels on every object, the image and version stamped in one place, a PodDisruptionBudget
only where there are two replicas, a NetworkPolicy whose ports are the pod's, the optional
metrics and HTTP-mode components, the Azure custom roles, and `make release` writing exactly
the renders, one versioned file per overlay."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from bot.config.settings import BotConfig, SlackMode, load_config
from bot.runtime.permissions import ARM
from tests.deploy.manifests import (
    COMPONENTS,
    DEPLOY,
    HA,
    KUBERNETES,
    ROOT,
    Doc,
    of_kind,
    one,
    overlay,
    render,
)

VERSION = importlib.metadata.version("mesh-upgrade-bot")
RECOMMENDED = {"name", "instance", "version", "component", "part-of", "managed-by"}
BOTH = pytest.mark.parametrize("path", [DEPLOY, HA], ids=["base", "ha"])
RELEASE = COMPONENTS / "release" / "kustomization.yaml"
POSTGRES_PORT = 5432  # libpq's default, when the URL names none


def _labels(meta: Doc) -> dict[str, str]:
    labels: dict[str, str] = meta.get("labels") or {}
    return {k.removeprefix("app.kubernetes.io/"): v for k, v in labels.items()
            if k.startswith("app.kubernetes.io/")}


def _pod(docs: tuple[Doc, ...]) -> Doc:
    template: Doc = one(docs, "Deployment")["spec"]["template"]
    return template


def _container_ports(docs: tuple[Doc, ...]) -> dict[str, int]:
    (container,) = _pod(docs)["spec"]["containers"]
    return {p["name"]: p["containerPort"] for p in container["ports"]}


def _config(docs: tuple[Doc, ...], tmp_path: Path) -> BotConfig:
    path = tmp_path / "clusters.yaml"
    path.write_text(one(docs, "ConfigMap")["data"]["clusters.yaml"])
    return load_config(path)


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}, selector
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()


# --- labels, image, version ---------------------------------------------------------------


@pytest.mark.parametrize("components", [(), ("metrics", "release"), ("slack-http", "release")],
                         ids=["plain", "metrics", "slack-http"])
@BOTH
def test_every_object_and_the_pod_carry_the_recommended_labels(
        path: Path, components: tuple[str, ...], tmp_path: Path) -> None:
    docs = render(overlay(tmp_path, path, *components) if components else path)
    expected = {"name": "mesh-upgrade-bot", "instance": "mesh-upgrade-bot", "version": VERSION,
                "component": "chatops-bot", "part-of": "mesh-upgrade-bot",
                "managed-by": "kustomize"}
    assert set(expected) == RECOMMENDED
    for doc in docs:
        assert _labels(doc["metadata"]) == expected, f"{doc['kind']} {doc['metadata']['name']}"
    assert _labels(_pod(docs)["metadata"]) == expected
    # never in a selector: a Deployment's selector is immutable, and the version changes
    assert one(docs, "Deployment")["spec"]["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "mesh-upgrade-bot"}}


@BOTH
def test_the_image_is_set_by_kustomize_at_the_packages_version(path: Path) -> None:
    raw = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())
    (written,) = raw["spec"]["template"]["spec"]["containers"]
    assert written["image"] == "mesh-upgrade-bot", "deployment.yaml names the image, no more"
    (image,) = yaml.safe_load(RELEASE.read_text())["images"]
    assert image["name"] == written["image"] and image["newTag"] == VERSION
    (container,) = _pod(render(path))["spec"]["containers"]
    assert container["image"] == f"{image['newName']}:{VERSION}"
    assert container["image"].split("/")[0].endswith(".azurecr.io"), "the README's ACR"


# --- PodDisruptionBudget ------------------------------------------------------------------


def test_a_disruption_budget_only_where_there_are_two_replicas() -> None:
    assert of_kind(render(), "PodDisruptionBudget") == [], "one replica: it would block drains"
    docs = render(HA)
    budget = one(docs, "PodDisruptionBudget")["spec"]
    replicas = one(docs, "Deployment")["spec"]["replicas"]
    assert budget["minAvailable"] == replicas - 1 == 1
    assert _selects(budget["selector"], _pod(docs)["metadata"]["labels"])
    assert budget["selector"] == one(docs, "Deployment")["spec"]["selector"]


# --- NetworkPolicy --------------------------------------------------------------------------


def _ingress_ports(policy: Doc) -> list[str | int]:
    return [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]


def _egress(policy: Doc) -> dict[tuple[str, int], list[Doc]]:
    """(protocol, port) -> the peers the rule for it admits."""
    out: dict[tuple[str, int], list[Doc]] = {}
    for rule in policy["spec"]["egress"]:
        for port in rule["ports"]:
            out.setdefault((port["protocol"], port["port"]), []).extend(rule["to"])
    return out


@pytest.mark.parametrize("components", [(), ("slack-http", "release")], ids=["socket", "http"])
@BOTH
def test_ingress_admits_exactly_the_pods_ports(path: Path, components: tuple[str, ...],
                                               tmp_path: Path) -> None:
    docs = render(overlay(tmp_path, path, *components) if components else path)
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert _selects(policy["spec"]["podSelector"], _pod(docs)["metadata"]["labels"])
    ports = _ingress_ports(policy)
    assert all("from" not in rule for rule in policy["spec"]["ingress"])  # probes, scrapers
    assert sorted(map(str, ports)) == sorted(_container_ports(docs)), "a port per container port"
    http = _config(docs, tmp_path).slack.mode is SlackMode.HTTP
    assert ("slack" in ports) == bool(components), "the Slack port only with the component"
    assert not http or "slack" in ports, "HTTP mode configured without the Slack port"


@BOTH
def test_egress_is_dns_https_and_the_configured_database(path: Path, tmp_path: Path) -> None:
    docs = render(path)
    egress = _egress(one(docs, "NetworkPolicy"))
    dns = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert egress[("UDP", 53)] == egress[("TCP", 53)] == dns
    anywhere = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert egress[("TCP", 443)] == anywhere  # ARM, Entra ID, Slack and the API server
    url = _config(docs, tmp_path).database_url
    database = ({("TCP", urlsplit(url).port or POSTGRES_PORT)}
                if url.startswith("postgresql") else set())
    assert set(egress) == {("UDP", 53), ("TCP", 53), ("TCP", 443)} | database
    assert (path == HA) == bool(database), "PostgreSQL in ha, SQLite on a volume in the base"


# --- the optional components ---------------------------------------------------------------


@BOTH
def test_the_metrics_component_scrapes_the_ops_port_for_managed_prometheus(
        path: Path, tmp_path: Path) -> None:
    docs = render(overlay(tmp_path, path, "metrics", "release"))
    pod_labels, ports = _pod(docs)["metadata"]["labels"], _container_ports(docs)
    service = one(docs, "Service")
    kubernetes_validate.validate(service, KUBERNETES, strict=True)
    assert _selects({"matchLabels": service["spec"]["selector"]}, pod_labels)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["ops"]
    monitor = one(docs, "PodMonitor")
    # ama-metrics reads only its own group; monitoring.coreos.com objects are ignored
    assert monitor["apiVersion"] == "azmonitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == one(docs, "Namespace")["metadata"]["name"]
    assert _selects(monitor["spec"]["selector"], pod_labels)
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"
    assert endpoint["port"] in _ingress_ports(one(docs, "NetworkPolicy"))
    assert len(docs) == len(render(path)) + 2, "the component adds the two, nothing else"


def test_the_http_mode_component_opens_the_slack_port_through_a_service(tmp_path: Path) -> None:
    docs = render(overlay(tmp_path, DEPLOY, "slack-http", "release"))
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    service = one(docs, "Service")
    assert _selects({"matchLabels": service["spec"]["selector"]}, _pod(docs)["metadata"]["labels"])
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["slack"]
    (container,) = _pod(docs)["spec"]["containers"]
    assert _container_ports(docs) == {"ops": 8080, "slack": 3000}  # `run --port` defaults to 3000
    assert container["args"] == _pod(render())["spec"]["containers"][0]["args"]


# --- Azure roles ---------------------------------------------------------------------------


def _role(name: str) -> Doc:
    role: Doc = json.loads((DEPLOY / "azure" / f"mesh-upgrade-bot-{name}.json").read_text())
    return role


def test_the_azure_custom_roles_hold_exactly_the_actions_the_bot_calls() -> None:
    cluster, location = _role("cluster"), _role("location")
    for role in (cluster, location):
        assert role["DataActions"] == role["NotActions"] == role["NotDataActions"] == []
        assert not any("*" in a for a in role["Actions"]), role["Name"]
        assert role["AssignableScopes"] == ["/subscriptions/SUBSCRIPTION_ID"]
    assert sorted(cluster["Actions"] + location["Actions"]) == sorted(a.action for a in ARM)
    # assigned at the cluster's scope: only the cluster's own actions; the location ones
    # live under /subscriptions/<id>/providers/.../locations, assigned at the subscription
    provider = "Microsoft.ContainerService/"
    assert all(a.startswith(provider + "managedClusters/") for a in cluster["Actions"])
    assert all(a.startswith(provider + "locations/") and a.endswith("/read")
               for a in location["Actions"])


# --- make release --------------------------------------------------------------------------


def _make_release(dist: Path, cwd: Path = ROOT, *extra: str) -> subprocess.CompletedProcess[str]:
    """`make release` without reinstalling: `-o` takes the virtualenv's stamp as up to date."""
    make = shutil.which("make")
    assert make is not None, "make is needed (the README's entry point)"
    venv = ROOT / ".venv"
    return subprocess.run(
        [make, "--no-print-directory", "-f", str(ROOT / "Makefile"), "-o", str(venv / ".installed"),
         f"VENV={venv}", f"DIST={dist}", *extra, "release"],
        capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def test_make_release_writes_the_renders_one_versioned_file_per_overlay(tmp_path: Path) -> None:
    done = _make_release(tmp_path)
    assert done.returncode == 0, done.stderr
    expected = {f"mesh-upgrade-bot-{VERSION}-{name}.yaml": path
                for name, path in (("base", DEPLOY), ("ha", HA))}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    assert done.stdout.split() == [str(tmp_path / name) for name in expected]
    for name, path in expected.items():
        docs = tuple(d for d in yaml.safe_load_all((tmp_path / name).read_text()) if d)
        assert docs == render(path), name
        for doc in docs:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_make_release_refuses_manifests_of_another_version(tmp_path: Path) -> None:
    """A copy of deploy/ whose release component says 9.9.9 while the package is VERSION."""
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    release = tmp_path / "deploy" / "components" / "release" / "kustomization.yaml"
    text = release.read_text()
    assert text.count(f"version: {VERSION}\n") == 1
    release.write_text(text.replace(f"version: {VERSION}\n", "version: 9.9.9\n"))
    done = _make_release(tmp_path / "dist", tmp_path)
    assert done.returncode != 0
    assert f"deploy is not version {VERSION}" in done.stderr
    assert not list((tmp_path / "dist").glob("*.yaml")), "nothing half-written is left"
