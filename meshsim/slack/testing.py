"""A running SlackSim with its own loop, for tests of the simulator and of the bot.

`with RunningSlack() as slack:` starts a SimLoop and a SlackSim on a free port;
`slack.control("POST", "/_sim/command", {...})` calls the control API over HTTP the way an
outside test would, and `wait_for` polls for work that other threads finish.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any

from meshsim.clock import SimClock
from meshsim.faults import Faults
from meshsim.runtime import SimLoop
from meshsim.slack.sim import SlackSim


class RunningSlack:
    def __init__(self, clock: SimClock | None = None, faults: Faults | None = None) -> None:
        self.loop = SimLoop()
        self.sim = SlackSim(clock or SimClock(), faults)
        self.port = self.sim.serve(self.loop)
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = self.sim.api_url

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the control API over HTTP; (status, parsed JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return int(resp.status), json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return int(err.code), json.loads(err.read() or b"null")

    def close(self) -> None:
        self.loop.close()

    def __enter__(self) -> RunningSlack:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, what: str = "",
             interval: float = 0.01) -> Any:
    """Poll until `condition()` is truthy and return it; AssertionError after `timeout` real
    seconds, naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s: {what or 'the condition'}")
