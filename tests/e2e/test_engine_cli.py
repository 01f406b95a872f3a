"""`mesh-upgrade-bot census|plan|status` as an operator runs them: against the simulated
cluster, with clear errors (never a traceback) for bad input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import main
from meshsim.sim import MeshSim
from tests.integration.conftest_workflow import CLUSTER, NEW, OLD, SPEED, write_config
from tests.sim_bot import bot_env

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`main(args)` in this process (an interpreter start per call would cost seconds)."""
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_the_console_script_runs_as_a_process() -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "census"], cwd=ROOT, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 2 and "--kubeconfig" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSim]:
    with MeshSim("bookinfo", speed=SPEED, workdir=tmp_path_factory.mktemp("sim")) as running:
        yield running


def test_census_prints_a_table_and_json_of_the_sidecars(sim: MeshSim) -> None:
    table = cli("census", "--kubeconfig", str(sim.kubeconfig), "--context", CLUSTER)
    assert table.returncode == 0, table.stderr
    assert "productpage-v1" in table.stdout and OLD in table.stdout
    data = json.loads(cli("census", "--kubeconfig", str(sim.kubeconfig), "--json").stdout)
    assert data["by_revision"][OLD] == data["injected"] > 0
    assert {w["name"] for w in data["workloads"]} >= {"web", "orders-db", "log-agent"}


def test_plan_and_status_of_a_configured_cluster(sim: MeshSim, tmp_path: Path) -> None:
    config = write_config(sim, tmp_path / "bot.yaml", tmp_path / "bot.db")
    env = bot_env(sim.describe())
    plan = cli("plan", "--config", str(config), "--cluster", CLUSTER, env=env)
    assert plan.returncode == 0, plan.stderr
    assert f"{OLD} -> {NEW}" in plan.stdout and "wave 1:" in plan.stdout
    assert json.loads(cli("plan", "--config", str(config), "--cluster", CLUSTER, "--json",
                          env=env).stdout)["target"] == NEW
    status = cli("status", "--config", str(config), "--cluster", CLUSTER)
    assert status.returncode == 0 and "no upgrade run yet" in status.stdout


@pytest.mark.parametrize("args,words", [
    (("census", "--kubeconfig", "/nonexistent/kubeconfig"), "Cannot reach"),
    (("plan", "--config", "/nonexistent.yaml", "--cluster", "x"), "nonexistent.yaml"),
    (("plan", "--to", "asm-9-99"), "asm-9-99"),
    (("status", "--cluster", "nope"), "There is no cluster 'nope'"),
])
def test_bad_input_gives_a_clear_error_not_a_traceback(sim: MeshSim, tmp_path: Path,
                                                       args: tuple[str, ...], words: str) -> None:
    config = write_config(sim, tmp_path / "bot.yaml", tmp_path / "bot.db")
    env = bot_env(sim.describe())
    full = list(args)
    if args[0] in ("plan", "status") and "--config" not in args:
        full += ["--config", str(config)]
    if args[0] in ("plan", "status") and "--cluster" not in full:
        full += ["--cluster", CLUSTER]
    done = cli(*full, env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and words in done.stderr, done.stderr


def test_census_of_a_lived_in_cluster_shows_modes_and_leaves_finished_pods_out(
        tmp_path: Path) -> None:
    with MeshSim("brownfield", speed=SPEED, workdir=tmp_path / "sim") as lived_in:
        args = ("census", "--kubeconfig", str(lived_in.kubeconfig), "--context",
                "aks-brownfield")
        table = cli(*args)
        assert table.returncode == 0, table.stderr
        assert "sidecar modes on asm-1-27: classic" in table.stdout
        assert "not counted: 2 finished Job pods still show asm-1-27" in table.stdout
        assert "not counted: 1 evicted pod still shows asm-1-27" in table.stdout
        data = json.loads(cli(*args, "--json").stdout)
        assert {(f["kind"], f["pods"]) for f in data["finished"]} == {("Job", 2), ("Evicted", 1)}
        assert data["modes"]["asm-1-27"]["classic"] == data["by_revision"]["asm-1-27"]
