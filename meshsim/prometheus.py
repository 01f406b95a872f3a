"""A real Prometheus (Debian's `prometheus`, on the PATH) scraping meshsim's telemetry server.

One scrape job per cluster, with the static label `cluster` that Azure Monitor's managed
Prometheus adds to what it scrapes, and `honor_labels` so Istio's own labels stay as the
sidecars wrote them. `start()` returns once Prometheus is ready and has scraped every target
once; a failure says why, with the tail of Prometheus' log.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

BINARY = "prometheus"
START_TIMEOUT = 30.0


class PrometheusError(RuntimeError):
    pass


class PrometheusServer:
    def __init__(self, telemetry: dict[str, Any], workdir: Path, scrape_interval: float = 1.0,
                 binary: str | None = None) -> None:
        self.telemetry, self.workdir = telemetry, Path(workdir)
        self.scrape_interval = scrape_interval
        self.binary = binary or shutil.which(BINARY) or BINARY
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self.workdir / "prometheus.log"

    @staticmethod
    def available() -> bool:
        return shutil.which(BINARY) is not None

    @property
    def url(self) -> str:
        if self.port is None:
            raise PrometheusError("Prometheus is not started")
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def config(self) -> dict[str, Any]:
        interval = f"{max(int(self.scrape_interval * 1000), 100)}ms"
        address = self.telemetry["url"].removeprefix("http://")
        jobs = [{"job_name": name, "honor_labels": True, "metrics_path": path,
                 "scrape_interval": interval, "scrape_timeout": interval,
                 "static_configs": [{"targets": [address], "labels": {"cluster": name}}]}
                for name, path in self.telemetry["clusters"].items()]
        return {"global": {"scrape_interval": interval, "evaluation_interval": interval},
                "scrape_configs": jobs}

    def start(self) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.port = _free_port()
        args = [self.binary, f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
                "--storage.tsdb.retention.time=1d", "--web.enable-lifecycle"]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait(time.monotonic() + START_TIMEOUT)
        except PrometheusError:
            self.close()
            raise
        return self.url

    def _wait(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                self._fail(f"prometheus exited with {self._process.returncode}")
            if self._ready() and self._scraped():
                return
            time.sleep(0.05)
        self._fail(f"prometheus was not ready with every target scraped in {START_TIMEOUT:g}s")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _scraped(self) -> bool:
        targets = self.get("/api/v1/targets")["data"]["activeTargets"]
        wanted = set(self.telemetry["clusters"])
        up = {t["labels"].get("cluster") for t in targets if t.get("health") == "up"}
        return wanted <= up

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + path, timeout=10) as answer:
            body: dict[str, Any] = json.loads(answer.read())
            return body

    def _fail(self, why: str) -> None:
        tail = self._log.read_text(errors="replace")[-2000:] if self._log.exists() else ""
        raise PrometheusError(f"{why}; log tail:\n{tail}")

    def close(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
