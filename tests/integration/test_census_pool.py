"""The census taken in the bot's worker process: same numbers as in-process, and a worker
that dies (OOM-killed, say) costs one retry, not every later census."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bot.kube.census_pool import CensusPool, PooledCensus
from bot.upgrade.errors import RetryLater
from tests.integration.cluster_sim import SimCluster, running, wait_for


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SimCluster]:
    with running(tmp_path) as env:
        yield env


@pytest.fixture
def pool() -> Iterator[CensusPool]:
    pool = CensusPool()
    yield pool
    pool.close()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_pooled_census_counts_what_the_in_process_census_counts(
        env: SimCluster, pool: CensusPool) -> None:
    pooled = PooledCensus(pool, env.api, "aks-istio-system").take()
    local = env.cluster.census.take()
    assert pooled.by_revision == local.by_revision and pooled.injected == local.injected > 0
    assert pooled.by_namespace == local.by_namespace


def test_a_killed_worker_costs_one_retry_then_a_new_worker_answers(
        env: SimCluster, pool: CensusPool) -> None:
    census = PooledCensus(pool, env.api, "aks-istio-system")
    first = census.take()
    before = wait_for(pool.worker_pids, "the census worker")
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(alive(pid) for pid in before), "the worker to be gone")
    try:
        again = census.take()
    except RetryLater as retry:
        assert "census worker" in retry.message
        again = census.take()
    assert again.by_revision == first.by_revision
    assert pool.worker_pids() and not (pool.worker_pids() & before)
