"""The engine as a real process, killed with SIGKILL mid ARM operation, mid wave and between
phases, then started again: the run ends as if nothing happened, with exactly one accepted ARM
PUT per revision change and no workload restarted twice in one wave."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli.wiring import build_workflow
from bot.config.settings import load_config
from bot.store.repository import Store, create_store
from bot.upgrade.phases import Action, Phase
from meshsim.sim import MeshSim
from tests.integration.conftest_workflow import (
    CLUSTER,
    NEW,
    OLD,
    REQUESTER,
    SPEED,
    Env,
    arm_endpoint,
    assert_only_on,
    write_config,
)
from tests.sim_bot import bot_env

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD_KINDS = ("deployments", "statefulsets", "daemonsets")


def _spawn(config: Path, final: str, endpoint_env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.engine_driver", "--config", str(config),
         "--cluster", CLUSTER, "--final", final],
        cwd=ROOT, env={**os.environ, **endpoint_env}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], timeout: float = 30.0
               ) -> bool:
    """SIGKILL the engine as soon as `ready()`; False if it ended on its own first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.kill()
            proc.wait()
            return True
        time.sleep(0.005)
    return False


def _patches(env: Env) -> Counter[tuple[str, str]]:
    log = env.kube.request_log
    return Counter((r.namespace, r.name) for kind in WORKLOAD_KINDS
                   for r in log.records(verb="patch", resource=kind) if 0 < r.code < 300)


@pytest.mark.parametrize("final,restarts", [("complete", 1), ("rollback", 2)])
def test_killed_engine_finishes_the_run_with_one_put_per_change_and_no_double_restart(
        tmp_path: Path, final: str, restarts: int) -> None:
    with MeshSim("bookinfo", speed=SPEED, workdir=tmp_path / "sim") as sim:
        config = write_config(sim, tmp_path / "bot.yaml", tmp_path / "bot.db")
        arm = arm_endpoint(sim)
        endpoint_env = bot_env(sim.describe())
        store = create_store(f"sqlite:///{tmp_path / 'bot.db'}")
        workflow = build_workflow(load_config(config), store, arm)
        run = workflow.request(CLUSTER, Action.START, REQUESTER)
        env = Env(sim, workflow, store)

        def phase() -> Phase:
            return store.get_run(run.id).phase

        def arm_busy(revisions: list[str]) -> Callable[[], bool]:
            return lambda: (env.arm_state()["provisioningState"] == "Updating"
                            and env.arm_state()["revisions"] == revisions)

        kill_points = [
            arm_busy([OLD, NEW]),  # mid ARM operation (start)
            lambda: phase() is Phase.ROLLING and sum(_patches(env).values()) >= 3,  # mid wave
            lambda: phase() in (Phase.VERIFYING, Phase.AWAITING_DECISION),  # between phases
            arm_busy([NEW] if final == "complete" else [OLD]),  # mid ARM operation (end)
        ]
        killed = [_kill_when(_spawn(config, final, endpoint_env), ready) for ready in kill_points]
        last = _spawn(config, final, endpoint_env)
        output, _ = last.communicate(timeout=60)
        assert last.returncode == 0, output
        assert sum(killed) >= 3, killed

        assert phase() is (Phase.COMPLETED if final == "complete" else Phase.ROLLED_BACK)
        keep, gone = (NEW, OLD) if final == "complete" else (OLD, NEW)
        assert_only_on(env, keep=keep, gone=gone)
        assert len(env.accepted_puts()) == 2  # [old, new], then [new] or [old]
        patches = _patches(env)
        assert patches and set(patches.values()) == {restarts}, patches
        _assert_one_restart_id_per_wave(store, run.id)
        status = subprocess.run([sys.executable, "-m", "bot.cli", "status", "--config",
                                 str(config), "--cluster", CLUSTER], cwd=ROOT, text=True,
                                capture_output=True)
        assert status.returncode == 0 and phase().value in status.stdout, status.stderr
        store.close()


def _assert_one_restart_id_per_wave(store: Store, run_id: int) -> None:
    waves = {k: v for k, v in store.steps(run_id).items() if ".wave." in k}
    assert waves and all(v.get("done") for v in waves.values()), waves
    ids = [v["restart_id"] for v in waves.values()]
    assert len(ids) == len(set(ids))
