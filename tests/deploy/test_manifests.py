"""deploy/ and its ha overlay render with `kubectl kustomize`, validate against the Kubernetes
1.30 schemas (kubernetes-validate, strict: unknown fields fail), and say what the bot needs:
a namespace that is never injected, workload identity, a locked-down pod, probes on the ops
port, writable paths only on volumes, a configuration `load_config` accepts, and Secrets
named after the environment variables the bot reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.config.settings import BotConfig, Secrets, load_config
from bot.runtime.ops import DEFAULT_PORT
from tests.deploy.manifests import DEPLOY, HA, KUBERNETES, Doc, of_kind, one, render

SLACK_SECRET = DEPLOY / "base" / "secret.example.yaml"
DATABASE_SECRET = HA / "secret.example.yaml"
BOTH = pytest.mark.parametrize("path", [DEPLOY, HA], ids=["base", "ha"])


def _pod(docs: tuple[Doc, ...]) -> Doc:
    spec: Doc = one(docs, "Deployment")["spec"]["template"]
    return spec


def _container(docs: tuple[Doc, ...]) -> Doc:
    (container,) = _pod(docs)["spec"]["containers"]
    return dict(container)


def _env_names() -> set[str]:
    return {name.upper() for name in Secrets.model_fields}


@BOTH
def test_renders_and_validates_against_kubernetes_1_30(path: Path) -> None:
    docs = render(path)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Namespace",
                     "NetworkPolicy", *(["PersistentVolumeClaim"] if path == DEPLOY else []),
                     *(["PodDisruptionBudget"] if path == HA else []),
                     "Role", "RoleBinding", "ServiceAccount"]


@pytest.mark.parametrize("secret", [SLACK_SECRET, DATABASE_SECRET], ids=["slack", "database"])
def test_example_secrets_validate_and_stay_out_of_the_render(secret: Path) -> None:
    doc = yaml.safe_load(secret.read_text())
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    assert of_kind(render() + render(HA), "Secret") == [], "placeholders are never applied"


@BOTH
def test_the_bots_namespace_is_never_injected(path: Path, tmp_path: Path) -> None:
    docs = render(path)
    labels = one(docs, "Namespace")["metadata"]["labels"]
    assert "istio.io/rev" not in labels
    assert labels["istio-injection"] == "disabled"
    assert _pod(docs)["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    namespace = one(docs, "Namespace")["metadata"]["name"]
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] in
            ("Deployment", "ServiceAccount", "ConfigMap")} == {namespace}
    assert _config(docs, tmp_path).clusters[0].bot_namespace == namespace


@BOTH
def test_the_pod_runs_as_the_workload_identity_service_account(path: Path) -> None:
    docs = render(path)
    account = one(docs, "ServiceAccount")
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    assert _pod(docs)["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert _pod(docs)["spec"]["serviceAccountName"] == account["metadata"]["name"]


@BOTH
def test_the_pod_is_locked_down(path: Path) -> None:
    docs = render(path)
    pod, container = _pod(docs)["spec"], _container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    assert one(docs, "Namespace")["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"]
    assert resources["limits"]["memory"]


@BOTH
def test_probes_ask_the_ops_endpoint_on_8080(path: Path) -> None:
    container = _container(render(path))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"ops": DEFAULT_PORT} == {"ops": 8080}  # /metrics is served there too
    probes = {kind: container[kind]["httpGet"] for kind in
              ("startupProbe", "readinessProbe", "livenessProbe")}
    assert {p["port"] for p in probes.values()} == {"ops"}
    assert probes["readinessProbe"]["path"] == probes["startupProbe"]["path"] == "/healthz"
    assert probes["livenessProbe"]["path"] == "/livez"  # 200 through a database outage


def test_one_replica_recreated_on_sqlite_in_the_base(tmp_path: Path) -> None:
    docs = render()
    spec = one(docs, "Deployment")["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    mounts = _mounts(docs)
    assert set(mounts) == {"/etc/mesh-upgrade", "/data", "/tmp"}
    claim = mounts["/data"]["persistentVolumeClaim"]["claimName"]
    assert one(docs, "PersistentVolumeClaim")["metadata"]["name"] == claim
    assert "emptyDir" in mounts["/tmp"]
    assert _config(docs, tmp_path).database_url.startswith("sqlite:////data/")


def test_two_replicas_on_postgresql_in_the_ha_overlay(tmp_path: Path) -> None:
    docs = render(HA)
    spec = one(docs, "Deployment")["spec"]
    assert spec["replicas"] == 2 and spec["strategy"]["type"] == "RollingUpdate"
    assert of_kind(docs, "PersistentVolumeClaim") == []
    assert set(_mounts(docs)) == {"/etc/mesh-upgrade", "/tmp"}
    config = _config(docs, tmp_path)
    assert config.leader_election.enabled
    assert config.database_url.startswith("postgresql")
    (env,) = [e for e in _container(docs)["env"] if e["name"] == "MESH_UPGRADE_DATABASE_URL"]
    assert env["name"] in _env_names()
    ref = env["valueFrom"]["secretKeyRef"]
    example = yaml.safe_load(DATABASE_SECRET.read_text())
    assert (ref["name"], {ref["key"]}) == (example["metadata"]["name"],
                                          set(example["stringData"]))


def test_the_slack_secret_holds_the_variables_the_bot_reads() -> None:
    example = yaml.safe_load(SLACK_SECRET.read_text())
    (source,) = _container(render())["envFrom"]
    assert source["secretRef"]["name"] == example["metadata"]["name"]
    assert set(example["stringData"]) == {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN",
                                          "SLACK_SIGNING_SECRET"}
    assert set(example["stringData"]) <= _env_names()


@BOTH
def test_the_mounted_configuration_is_what_the_container_reads(path: Path) -> None:
    docs = render(path)
    args = _container(docs)["args"]
    assert args[:2] == ["run", "--config"]
    mounted = _mounts(docs)["/etc/mesh-upgrade"]["configMap"]["name"]
    assert one(docs, "ConfigMap")["metadata"]["name"] == mounted
    assert Path(args[2]) == Path("/etc/mesh-upgrade") / "clusters.yaml"


def _mounts(docs: tuple[Doc, ...]) -> dict[str, Any]:
    volumes = {v["name"]: v for v in _pod(docs)["spec"]["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in _container(docs)["volumeMounts"]}


def _config(docs: tuple[Doc, ...], tmp_path: Path) -> BotConfig:
    """The rendered ConfigMap's clusters.yaml, read by the bot's own loader."""
    path = tmp_path / "clusters.yaml"
    path.write_text(one(docs, "ConfigMap")["data"]["clusters.yaml"])
    return load_config(path)
