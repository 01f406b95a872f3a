"""The sidecar census taken in a worker process, so the bot's interpreter stays free for acks.

Parsing and counting 20,000 pods is pure Python that holds the GIL for seconds; in the bot's
own process every hop of a Slack ack (socket read, Bolt dispatch, listener, ack) then waits
behind it (bench/ack.py measured p99 240-380 ms). `PooledCensus` satisfies the workflow's
CensusPort by sending the API server's address and credentials to one worker process, which
reads and counts the pages there and sends back only the finished `Census`. The credentials
are read afresh for every census (a refreshed in-cluster token reaches the worker too).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient, Configuration, CoreV1Api

from bot.kube.census import CensusReader
from bot.kube.rest import KubeIO
from bot.upgrade.cluster_facts import Census
from bot.upgrade.errors import GiveUp, MeshUpgradeError, RetryLater

PARENT_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class KubeSource:
    """Everything a worker needs to reach the API server as the bot does (picklable)."""

    host: str
    verify_ssl: bool
    ssl_ca_cert: str | None
    cert_file: str | None
    key_file: str | None
    tls_server_name: str | None
    authorization: str | None  # the Authorization header value, e.g. "Bearer <token>"

    @classmethod
    def of(cls, api_client: ApiClient) -> KubeSource:
        cfg = api_client.configuration
        # This runs the refresh hook first: in-cluster, the token file is read again.
        auth = cfg.get_api_key_with_prefix("authorization")
        return cls(cfg.host, bool(cfg.verify_ssl), cfg.ssl_ca_cert, cfg.cert_file,
                   cfg.key_file, getattr(cfg, "tls_server_name", None), auth)

    def api_client(self) -> ApiClient:
        cfg = Configuration()
        cfg.host, cfg.verify_ssl, cfg.ssl_ca_cert = self.host, self.verify_ssl, self.ssl_ca_cert
        cfg.cert_file, cfg.key_file = self.cert_file, self.key_file
        if self.tls_server_name:
            cfg.tls_server_name = self.tls_server_name
        if self.authorization:
            cfg.api_key = {"authorization": self.authorization}
        return ApiClient(cfg)


class CensusPool:
    """One worker process (started on first use, with `spawn`: the bot has threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, source: KubeSource, istio_namespace: str, namespace: str | None
               ) -> Future[tuple[str, Any]]:
        return self._executor().submit(_take, source, istio_namespace, namespace)

    def worker_pids(self) -> set[int]:
        """The worker's pid, once started (for operators and tests; the executor keeps its
        processes in a private mapping, read only here)."""
        with self._lock:
            processes = getattr(self._pool, "_processes", None) or {}
            return set(processes)

    def warm_up(self) -> None:
        """Start the worker and import the client there now, not on the first census."""
        self._executor().submit(_ready)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_watch_parent, initargs=(os.getpid(),))
            return self._pool


class PooledCensus:
    """A CensusPort whose `take` runs in the pool's worker process."""

    def __init__(self, pool: CensusPool, api_client: ApiClient, istio_namespace: str) -> None:
        self._pool, self._api_client, self._istio = pool, api_client, istio_namespace

    def take(self, namespace: str | None = None) -> Census:
        source = KubeSource.of(self._api_client)
        try:
            kind, value = self._pool.submit(source, self._istio, namespace).result()
        except BrokenProcessPool:  # the worker died (OOM-killed, say), now or before
            self._pool.close()  # the next census starts a fresh worker
            raise RetryLater("the census worker process stopped during a census", 5.0,
                             "it is restarted on the next try") from None
        if kind == "census":
            census: Census = value
            return census
        if kind == "retry":
            raise RetryLater(value[0], value[1], value[2])
        raise GiveUp(value[0], value[1])


# --- in the worker process ---------------------------------------------------------------

_readers: dict[tuple[KubeSource, str], CensusReader] = {}


def _ready() -> bool:
    return True


def _watch_parent(parent: int) -> None:
    """Exit when the bot is gone (killed, or exited before the pool's shutdown reached the
    worker): an orphaned worker would otherwise wait for work forever."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _take(source: KubeSource, istio_namespace: str, namespace: str | None
          ) -> tuple[str, Any]:
    """The census, or the error as plain values (the project's errors take keyword-free
    arguments that pickle does not rebuild)."""
    reader = _readers.get((source, istio_namespace))
    if reader is None:
        api = source.api_client()
        reader = _readers[(source, istio_namespace)] = CensusReader(
            KubeIO(api), CoreV1Api(api), istio_namespace)
    try:
        return "census", reader.take(namespace)
    except RetryLater as exc:
        return "retry", (exc.message, exc.delay_seconds, exc.hint)
    except MeshUpgradeError as exc:
        return "giveup", (exc.message, exc.hint)
