"""`mesh-upgrade-bot sandbox` as a child process and its page in headless Chromium.

Chromium is Debian's (`apt-get install chromium`, see `.ci/run`); Playwright only drives it and
never downloads a browser of its own. `MESH_CHROMIUM` points at another binary.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"

# Chromium on our machines: no GPU, no sandbox as root, and no calls home (the closed network
# refuses them, and a refused background connection can stall the page's own).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """Debian's Chromium, or a clear failure saying how to install it."""
    wanted = os.environ.get("MESH_CHROMIUM", "/usr/bin/chromium")
    found = shutil.which(wanted)
    if found is None:
        raise RuntimeError(
            f"Chromium not found at {wanted}: the browser test needs Debian's chromium "
            "(`apt-get install -y chromium`, as .ci/run does) or MESH_CHROMIUM=/path/to/chromium")
    return found


@dataclass
class Sandbox:
    process: subprocess.Popen[bytes]
    described: dict[str, Any]
    log: Path

    @property
    def page_url(self) -> str:
        return str(self.described["page"])

    def app_state(self, **settings: Any) -> dict[str, Any]:
        """The simulated Slack's app settings (`POST /_sim/app` when `settings` change any)."""
        url = self.described["slack"]["url"] + "/_sim/app"
        data = json.dumps(settings).encode() if settings else None
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            state: dict[str, Any] = json.load(resp)
            return state


def _command() -> list[str]:
    script = Path(sys.executable).with_name("mesh-upgrade-bot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


@contextmanager
def running_sandbox(*args: str, name: str = "sandbox",
                    startup_timeout: float = 45.0) -> Iterator[Sandbox]:
    """`mesh-upgrade-bot sandbox ARGS` until its JSON line is out and Socket Mode is connected.

    Its output goes to tests/artifacts/NAME.log (read there when a step fails); SIGTERM stops it.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*_command(), "sandbox", *args], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        sandbox = Sandbox(process, _wait_for_json_line(process, log, startup_timeout), log)
        deadline = time.monotonic() + 15
        while not sandbox.app_state()["socket_connections"]:
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot never connected in Socket Mode; see {log}")
            time.sleep(0.1)
        yield sandbox
    finally:
        _stop(process)


def _wait_for_json_line(process: subprocess.Popen[bytes], log: Path,
                        timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                described: dict[str, Any] = json.loads(line)
                return described
        if process.poll() is not None:
            raise AssertionError(f"the sandbox exited with {process.returncode}:\n"
                                 + log.read_text(errors="replace")[-3000:])
        time.sleep(0.1)
    raise AssertionError(f"the sandbox printed no JSON line within {timeout} s; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
