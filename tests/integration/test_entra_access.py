"""The bot on an Entra ID AKS cluster: it takes the server and CA from the kubelogin kubeconfig
ARM returns and authenticates with its own azure-identity tokens for the AKS server app (never
running kubelogin, never asking for the admin credential); `doctor`, authenticated through
DefaultAzureCredential's environment and workload identity paths, is green, and names the Azure
RBAC role to grant once the bot's role assignment is gone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli.main import main
from bot.cli.sandbox import sandbox_config
from bot.cli.wiring import connect_cluster
from bot.runtime.permissions import for_tags
from bot.upgrade.errors import GiveUp
from meshsim.entra.access import CLUSTER_ADMIN
from meshsim.sim import MeshSim
from meshsim.slack import seed
from tests.sim_bot import bot_env, sim_arm

CLUSTER = "aks-sandbox"
READER = "Azure Kubernetes Service RBAC Reader"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSim]:
    with MeshSim("entra", 20.0, tmp_path_factory.mktemp("sim")) as running:
        yield running


@pytest.fixture
def kubelogin_trap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `kubelogin` first on PATH that leaves a mark if anything runs it."""
    mark, binary = tmp_path / "kubelogin-ran", tmp_path / "bin" / "kubelogin"
    binary.parent.mkdir()
    binary.write_text(f"#!/bin/sh\ntouch {mark}\nexit 1\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{binary.parent}{os.pathsep}{os.environ['PATH']}")
    return mark


def write_config(sim: MeshSim, tmp_path: Path) -> Path:
    config = sandbox_config(sim.describe(), 60, 20, f"sqlite:///{tmp_path / 'bot.db'}")
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path


def doctor(sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch, workload_identity: bool = False) -> tuple[int, str]:
    for name, value in {"SLACK_BOT_TOKEN": seed.BOT_TOKEN, "SLACK_APP_TOKEN": seed.APP_TOKEN,
                        "MESH_UPGRADE_SLACK_API_URL": sim.slack.api_url,
                        **bot_env(sim.describe(), workload_identity)}.items():
        monkeypatch.setenv(name, value)
    if workload_identity:
        monkeypatch.delenv("AZURE_CLIENT_SECRET", raising=False)
    code = main(["doctor", "--config", str(write_config(sim, tmp_path))])
    return code, capsys.readouterr().out


def row(out: str, check: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(check))


def aks_token_requests(sim: MeshSim) -> list[Any]:
    return sim.arm.entra.calls("6dae42f8-4368-4678-94ff-3960e28e3630")


def test_the_bot_reads_an_entra_cluster_with_its_own_tokens_and_no_kubelogin(
        sim: MeshSim, tmp_path: Path, kubelogin_trap: Path) -> None:
    config = sandbox_config(sim.describe(), 60, 20, f"sqlite:///{tmp_path / 'bot.db'}")
    kube = sim.clusters[CLUSTER]
    kube.request_log.clear()
    sim.arm.clear_calls()
    before = len(aks_token_requests(sim))

    adapters = connect_cluster(config.cluster(CLUSTER), sim_arm(sim.describe()))
    census = adapters.cluster.take_census()

    assert census.pods > 0 and census.by_revision.get("asm-1-22")
    assert not kubelogin_trap.exists()
    assert len(aks_token_requests(sim)) == before + 1  # one AKS token, from azure-identity
    assert [c.path.rsplit("/", 1)[-1] for c in sim.arm.calls("POST")] == [
        "listClusterUserCredential"]  # never the admin credential
    assert kube.request_log.records() and not kube.request_log.records(code=401)


def test_doctor_is_green_on_an_entra_cluster_through_both_credential_paths(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, kubelogin_trap: Path) -> None:
    for workload_identity in (False, True):
        sim.arm.entra.clear_calls()
        code, out = doctor(sim, tmp_path, capsys, monkeypatch, workload_identity)
        assert code == 0, out
        assert "arm_credentials: Kubernetes v1.30.6" in row(out, "k8s aks-sandbox: access")
        checked = for_tags(("prod-stable", "prod-canary"))  # update/delete asked per tag name
        assert f"all {len(checked)} permissions granted" in row(out, "k8s aks-sandbox: RBAC")
        grants = {c.grant for c in sim.arm.entra.calls()}
        assert grants == {"assertion" if workload_identity else "secret"}
    assert not kubelogin_trap.exists()


def test_doctor_names_the_azure_rbac_role_the_bot_lacks(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    entra, principal = sim.arm.entra, sim.describe()["entra"]["principal_id"]
    scope = entra.scope(CLUSTER)
    entra.revoke(principal, CLUSTER_ADMIN, scope)
    entra.grant(principal, READER, scope)
    try:
        code, out = doctor(sim, tmp_path, capsys, monkeypatch)
    finally:
        entra.revoke(principal, READER, scope)
        entra.grant(principal, CLUSTER_ADMIN, scope)
    assert code == 1, out
    role = row(out, "k8s aks-sandbox: Azure RBAC")
    assert f"missing role {CLUSTER_ADMIN}" in role
    assert (f'az role assignment create --assignee {principal} --role "{CLUSTER_ADMIN}" '
            f"--scope {scope}") in role
    relabel = row(out, "k8s aks-sandbox: patch core/namespaces (cluster-wide)")
    assert "Azure RBAC denied it (User does not have access to the resource in Azure" in relabel
    assert relabel.endswith(f"{CLUSTER_ADMIN} allows it")
    tags = row(out, "k8s aks-sandbox: create admissionregistration.k8s.io/"
                    "mutatingwebhookconfigurations (cluster-wide)")
    assert tags.endswith("Azure Kubernetes Service RBAC Admin allows it")
    assert "FAIL" not in row(out, "k8s aks-sandbox: access")  # a Reader still gets in
    assert not any(line.startswith("k8s aks-sandbox: list core/pods") for line in out.splitlines())



def test_a_wrong_client_secret_is_a_clear_refusal_that_does_not_show_the_secret(
        sim: MeshSim, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sim~not-the-secret-at-all"
    monkeypatch.setattr(sim.arm.entra, "bot_secret", wrong)  # what doctor's environment carries
    code, out = doctor(sim, tmp_path, capsys, monkeypatch)
    assert code == 1
    assert "Could not get an Azure token" in row(out, "arm aks-sandbox: managedCluster")
    assert "FAIL" in row(out, "k8s aks-sandbox: access")  # ARM hands out no kubeconfig either
    assert wrong not in out


def test_a_refused_aks_token_gives_up_with_entras_words(sim: MeshSim) -> None:
    tokens = sim_arm(sim.describe()).kube_tokens()
    with pytest.raises(GiveUp) as caught:
        tokens("https://vault.azure.net/.default")
    assert caught.value.message.startswith(
        "Entra ID gave the bot no token for https://vault.azure.net/.default: Authentication "
        "failed: AADSTS500011: The resource principal named https://vault.azure.net")
    assert "AZURE_CLIENT_ID" in caught.value.hint
