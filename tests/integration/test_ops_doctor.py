"""`mesh-upgrade-bot doctor` against meshsim: all green when everything is in place, and a red
row that says what to do when a permission is denied, a token is wrong, a scope is missing or
the bot is not in the channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli.main import main
from bot.cli.sandbox import sandbox_config
from bot.runtime.permissions import for_tags
from meshsim.faults import Faults
from meshsim.kube.requestinfo import RequestAttributes, RequestLog
from meshsim.kube.server import make_app
from meshsim.sim import MeshSim
from meshsim.slack import seed
from tests.sim_bot import bot_env


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSim]:
    with MeshSim("bookinfo", 20.0, tmp_path_factory.mktemp("sim")) as running:
        yield running


@pytest.fixture
def env(sim: MeshSim, monkeypatch: pytest.MonkeyPatch) -> None:
    described = sim.describe()
    for name, value in {"SLACK_BOT_TOKEN": seed.BOT_TOKEN, "SLACK_APP_TOKEN": seed.APP_TOKEN,
                        "MESH_UPGRADE_SLACK_API_URL": sim.slack.api_url,
                        **bot_env(described)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MESH_UPGRADE_DATABASE_URL", raising=False)


def write_config(sim: MeshSim, tmp_path: Path, **cluster: Any) -> Path:
    config = sandbox_config(sim.describe(), 60, 20, f"sqlite:///{tmp_path / 'bot.db'}")
    data = config.model_dump(mode="json")
    data["clusters"] = [{**c, **cluster} for c in data["clusters"]]
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def doctor(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["doctor", "--config", str(path), *extra])
    return code, capsys.readouterr().out


def row(out: str, check: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(check))


@pytest.mark.usefixtures("env")
def test_doctor_is_all_green_against_the_simulator(sim: MeshSim, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out = doctor(write_config(sim, tmp_path), capsys)
    assert code == 0, out
    assert f"all {len(out.splitlines()) - 3} checks passed" in out
    assert "FAIL" not in out
    assert "member of #mesh-ops" in row(out, "slack channel C0MESHOPS")
    assert "commands, chat:write" in row(out, "slack bot token scopes")
    assert "Istio asm-1-22" in row(out, "arm aks-sandbox: managedCluster")
    assert "offers asm-1-23" in row(out, "arm aks-sandbox: meshUpgradeProfiles")
    assert "arm_credentials: Kubernetes v1.30.6" in row(out, "k8s aks-sandbox: access")
    checked = for_tags(("prod-stable", "prod-canary"))  # update/delete asked per tag name
    assert f"all {len(checked)} permissions granted" in row(out, "k8s aks-sandbox: RBAC")


@pytest.mark.usefixtures("env")
def test_doctor_names_a_denied_permission_and_the_rule_to_add(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asked: list[RequestAttributes] = []

    def authorizer(attrs: RequestAttributes) -> bool:
        asked.append(attrs)
        return not (attrs.verb == "patch" and attrs.resource == "deployments")

    kube = sim.clusters["aks-sandbox"]
    assert sim.loop is not None
    port = sim.loop.serve(make_app(kube.store, Faults(), RequestLog(), authorizer=authorizer))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "rbac",
        "clusters": [{"name": "rbac", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "bot", "user": {"token": "meshsim-token"}}],
        "contexts": [{"name": "rbac", "context": {"cluster": "rbac", "user": "bot"}}]}))
    config = write_config(sim, tmp_path, access={"mode": "kubeconfig",
                                                 "kubeconfig": str(kubeconfig)})
    code, out = doctor(config, capsys)
    assert code == 1
    denied = row(out, "k8s aks-sandbox: patch apps/deployments (cluster-wide)")
    assert "FAIL" in denied
    assert "rolling" in denied and "rollout restart" in denied
    assert ("Add to the bot's ClusterRole: "
            '{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}') in denied
    assert "RBAC rules to add for aks-sandbox" in out
    assert "- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [patch]" in out
    assert "1 failed" in out
    assert [a for a in asked if a.resource == "deployments" and a.verb == "get"]
    code, out = doctor(config, capsys, "--json")
    report = json.loads(out)
    assert report["ok"] is False
    assert report["rbac_rules"] == {"aks-sandbox": {"ClusterRole": [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}]}}


@pytest.mark.usefixtures("env")
def test_doctor_says_a_wrong_bot_token_is_refused(sim: MeshSim, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-not-the-right-one")
    code, out = doctor(write_config(sim, tmp_path), capsys)
    assert code == 1
    refused = row(out, "slack bot token (auth.test)")
    assert "FAIL" in refused
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in refused
    assert "Bot User OAuth Token" in refused
    assert "xoxb-0000-not-the-right-one" not in out


@pytest.mark.usefixtures("env")
def test_doctor_says_an_app_token_in_place_of_the_bot_token_is_wrong(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", seed.APP_TOKEN)
    code, out = doctor(write_config(sim, tmp_path), capsys)
    assert code == 1
    assert "not a bot token" in row(out, "env SLACK_BOT_TOKEN")


@pytest.mark.usefixtures("env")
def test_doctor_tells_to_invite_the_bot_into_its_channel(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = doctor(write_config(sim, tmp_path, channel=seed.RANDOM_CHANNEL), capsys)
    assert code == 1
    absent = row(out, f"slack channel {seed.RANDOM_CHANNEL}")
    assert "FAIL" in absent
    assert "not a member of #random: type `/invite @meshbot` in the channel" in absent


@pytest.mark.usefixtures("env")
def test_doctor_names_a_missing_scope(sim: MeshSim, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    granted = sim.slack.api.scopes[seed.BOT_TOKEN]
    sim.slack.api.scopes[seed.BOT_TOKEN] = tuple(s for s in granted if s != "files:write")
    try:
        code, out = doctor(write_config(sim, tmp_path), capsys)
    finally:
        sim.slack.api.scopes[seed.BOT_TOKEN] = granted
    assert code == 1
    scopes = row(out, "slack bot token scopes")
    assert "missing files:write (share charts" in scopes
    assert "OAuth & Permissions > Bot Token Scopes, then reinstall the app" in scopes


@pytest.mark.usefixtures("env")
def test_doctor_reports_config_errors_with_file_line_and_key(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(sim, tmp_path, channel="#mesh-ops")
    code, out = doctor(path, capsys)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if "channel:" in text)
    assert code == 1
    assert f"{path}:{line}: clusters[0].channel: expected a Slack channel ID" in row(out, "config")


@pytest.mark.usefixtures("env")
def test_doctor_says_which_secret_is_missing_for_http_mode(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    code, out = doctor(write_config(sim, tmp_path), capsys, "--mode", "http")
    assert code == 1
    assert "not set: copy the Signing Secret" in row(out, "env SLACK_SIGNING_SECRET")


# --- ARM permissions, write included, without writing ----------------------------------------

WRITE = "Microsoft.ContainerService/managedClusters/write"
PERMISSIONS_PATH = "*/providers/Microsoft.Authorization/permissions"


@pytest.mark.usefixtures("env")
def test_doctor_finds_arm_write_allowed_from_the_reported_permissions_without_writing(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim.arm.clear_calls()
    code, out = doctor(write_config(sim, tmp_path), capsys)
    assert code == 0, out
    allowed = row(out, "arm aks-sandbox: permissions")
    assert "ok" in allowed and WRITE in allowed and "listClusterUserCredential" in allowed
    asked = sim.arm.calls("GET", "Microsoft.Authorization/permissions")
    assert [c.status for c in asked] == [200]
    assert sim.arm.calls("PUT") == [], "a write is checked without making one"


@pytest.mark.usefixtures("env")
def test_doctor_names_the_write_a_read_only_identity_lacks_and_the_role_to_grant(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entra, scope = sim.arm.entra, sim.arm.entra.clusters["aks-sandbox"]
    bot = entra.bot.object_id
    taken = entra.revoke(bot, "Azure Kubernetes Service Contributor Role", scope)
    assert taken, "the simulator grants the bot the AKS Contributor Role"
    try:
        code, out = doctor(write_config(sim, tmp_path), capsys)
    finally:
        entra.grant(bot, "Azure Kubernetes Service Contributor Role", scope)
    assert code == 1
    missing = row(out, f"arm aks-sandbox: {WRITE}")
    assert "FAIL" in missing and "not granted" in missing and "starting" in missing
    roles = row(out, "arm aks-sandbox: Azure roles")
    assert (f'az role assignment create --assignee {bot} --role "Azure Kubernetes Service '
            f'Contributor Role" --scope {scope}') in roles
    assert "Cluster User Role" not in roles, "only what is missing"
    assert "arm aks-sandbox: permissions" not in out
    assert sim.arm.calls("PUT") == []


@pytest.mark.usefixtures("env")
def test_doctor_says_what_failed_when_arm_refuses_to_report_the_permissions(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refusal = {"error": {"code": "AuthorizationFailed", "message": (
        "The client 'x' with object id 'x' does not have authorization to perform action "
        "'Microsoft.Authorization/permissions/read' over scope 'y' or the scope is invalid.")}}
    sim.arm.faults.add(verb="GET", path=PERMISSIONS_PATH, status=403, body=refusal, count=1)
    try:
        code, out = doctor(write_config(sim, tmp_path), capsys)
    finally:
        sim.arm.faults.clear()
    assert code == 1
    failed = row(out, "arm aks-sandbox: permissions")
    assert "FAIL" in failed and "could not read them" in failed
    assert "HTTP 403, needs Microsoft.Authorization/permissions/read" in failed
    assert "does not have authorization" in failed and "Grant the bot's identity" in failed
    assert f"arm aks-sandbox: {WRITE}" not in out, "nothing is claimed missing"
