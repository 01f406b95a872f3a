"""What bot/prom's tests run against: Debian's real Prometheus scraping a tiny endpoint that
serves Istio-style counters growing at known rates, and a stub query API that answers what a
test tells it to (statuses, slowness) and records what it was sent.

Without /usr/bin/prometheus the Prometheus tests skip, unless MESH_UPGRADE_REQUIRE_PROMETHEUS
(or CI) is set: then they fail, as the PostgreSQL tests do (tests/integration/postgres_env.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import orjson
import pytest

from meshsim.prometheus import PrometheusServer

ENV_REQUIRE = "MESH_UPGRADE_REQUIRE_PROMETHEUS"
BINARY = "/usr/bin/prometheus"


def prometheus_binary() -> str:
    """The binary, or skip (locally) / fail (CI) with what to do."""
    found = shutil.which("prometheus") or (BINARY if os.path.exists(BINARY) else None)
    if found:
        return found
    how = "no prometheus binary: apt-get install prometheus (Debian's 2.42 is what CI runs)"
    if os.environ.get(ENV_REQUIRE) or os.environ.get("CI"):
        pytest.fail(f"{how}; this run requires the Prometheus tests", pytrace=False)
    pytest.skip(how)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler],
            tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """`handler` on 127.0.0.1 on a port of its own; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- Istio-style exposition, growing linearly with the wall clock ------------------------------


@dataclass(frozen=True)
class Series:
    """One workload's traffic as the destination's proxy reports it: requests per second by
    response code, every request's latency in the bucket ending at `latency_le`."""

    namespace: str
    workload: str
    rps: dict[str, float]  # response code -> requests per second
    latency_le: float = 100.0
    labels: dict[str, str] = field(default_factory=dict)
    reporter: str = "destination"


BUCKETS = (25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)


def exposition(series: list[Series], elapsed: float) -> str:
    lines = ["# TYPE istio_requests_total counter"]
    for s in series:
        for code, rps in s.rps.items():
            lines.append(f"istio_requests_total{{{_labels(s, response_code=code)}}} "
                         f"{rps * elapsed}")
    lines.append("# TYPE istio_request_duration_milliseconds histogram")
    for s in series:
        total = sum(s.rps.values()) * elapsed
        for le in BUCKETS:
            count = total if le >= s.latency_le else 0.0
            lines.append(f"istio_request_duration_milliseconds_bucket{{{_labels(s, le=le)}}} "
                         f"{count}")
        lines.append(f'istio_request_duration_milliseconds_bucket{{{_labels(s, le="+Inf")}}} '
                     f"{total}")
        lines.append(f"istio_request_duration_milliseconds_sum{{{_labels(s)}}} "
                     f"{total * s.latency_le}")
        lines.append(f"istio_request_duration_milliseconds_count{{{_labels(s)}}} {total}")
    return "\n".join(lines) + "\n"


def _labels(s: Series, **extra: object) -> str:
    values = {"reporter": s.reporter, "destination_workload_namespace": s.namespace,
              "destination_workload": s.workload, **s.labels,
              **{k: str(v) for k, v in extra.items()}}
    return ",".join(f'{k}="{v}"' for k, v in values.items())


@contextmanager
def istio_endpoint(series: list[Series]) -> Iterator[str]:
    """A /metrics whose counters are rate x seconds since the endpoint started."""
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition(series, time.monotonic() - started).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url


@contextmanager
def prometheus(target: str, workdir: Path, scrape_interval: float = 0.5) -> Iterator[str]:
    """Debian's Prometheus (meshsim's launcher) scraping `target` (host:port, `/metrics`) every
    `scrape_interval` seconds; yields its URL once it has scraped the target."""
    prometheus_binary()
    telemetry = {"url": f"http://{target}", "clusters": {"istio": "/metrics"}}
    with PrometheusServer(telemetry, workdir, scrape_interval) as server:
        yield server.url


def instant(url: str, query: str) -> list[dict[str, object]]:
    """A test's own look at Prometheus (not through bot/prom); [] until it answers."""
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query?query={query}", timeout=2) as r:
            result: list[dict[str, object]] = orjson.loads(r.read())["data"]["result"]
            return result
    except OSError:
        return []


def wait_for(ready: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout} s: {why()}")
        time.sleep(0.1)


# --- a stub query API -----------------------------------------------------------------------


@dataclass
class Stub:
    """Answers each POST with the next of `answers` (status, JSON body), the last one again
    when they run out; `delay` seconds before each; records form and Authorization."""

    answers: list[tuple[int, object]]
    delay: float = 0.0
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def next_answer(self) -> tuple[int, bytes]:
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return status, orjson.dumps(body)


def vector(*items: tuple[dict[str, str], float | str]) -> dict[str, object]:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": metric, "value": [time.time(), str(value)]} for metric, value in items]}}


@contextmanager
def stub_api(stub: Stub, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            stub.forms.append(parse_qs(self.rfile.read(length).decode()))
            stub.authorizations.append(self.headers.get("Authorization"))
            time.sleep(stub.delay)
            status, body = stub.next_answer()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler, tls) as url:
        yield url
