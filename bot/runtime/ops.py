"""The operations endpoint: `/healthz`, `/livez` and `/metrics` on their own port (8080).

`/healthz` answers 200 with each check's detail when the Slack connection is up, the scheduler
runs (or this replica is a standby by design) and the database answers; 503 with the same JSON
otherwise. `/livez` is 200 while the process serves HTTP (a liveness probe that does not
restart pods during a database outage). The database probe opens a fresh connection each time,
because a pooled SQLite connection keeps reading a file that was deleted or moved away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from apscheduler.schedulers.base import STATE_RUNNING

from bot.runtime.metrics import Metrics
from bot.runtime.services import Services
from bot.store.probe import database_ping

log = logging.getLogger(__name__)
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


Probe = Callable[[], Check]


def database_probe(url: str, schema: bool = True) -> Probe:
    """Reads one row of `runs` (or, without `schema`, only connects) on a new connection;
    never creates a SQLite file."""
    ping = database_ping(url, schema)
    return lambda: Check(*ping())


def scheduler_probe(services: Services) -> Probe:
    """Running on the active replica; on a standby (not the leader) paused by design."""

    def probe() -> Check:
        aps = services.scheduler.aps
        if not services.active:
            return Check(aps.running, "standby: another replica leads" if aps.running
                         else "not started")
        running = aps.running and aps.state == STATE_RUNNING
        return Check(running, "running" if running else "stopped")

    return probe


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def health(probes: Mapping[str, Probe]) -> tuple[bool, dict[str, Any]]:
    """Run every probe; (all ok, the JSON body of /healthz)."""
    checks = {}
    for name, probe in probes.items():
        try:
            result = probe()
        except Exception as exc:
            result = Check(False, f"probe failed: {type(exc).__name__}: {exc}")
        checks[name] = {"ok": result.ok, "detail": result.detail}
    ok = all(c["ok"] for c in checks.values())
    return ok, {"status": "ok" if ok else "unhealthy", "checks": checks}


class _OpsHandler(BaseHTTPRequestHandler):
    probes: Mapping[str, Probe]  # set on the subclass made per server
    metrics: Metrics

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/healthz":
            ok, body = health(self.probes)
            self._answer(200 if ok else 503, orjson.dumps(body), "application/json")
        elif path == "/livez":
            self._answer(200, b'{"status":"ok"}', "application/json")
        elif path == "/metrics":
            data, content_type = self.metrics.exposition()
            self._answer(200, data, content_type)
        else:
            self._answer(404, b"not found: try /healthz, /livez or /metrics\n", "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("ops: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class OpsServer:
    """Serves the endpoints on `host:port` (port 0: a free one) from a daemon thread."""

    def __init__(self, probes: Mapping[str, Probe], metrics: Metrics, host: str = "0.0.0.0",
                 port: int = DEFAULT_PORT) -> None:
        handler = type("OpsHandler", (_OpsHandler,), {"probes": probes, "metrics": metrics})
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
