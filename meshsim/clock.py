"""Simulated time with a speed knob.

Every simulator reads time from one SimClock so that `--speed 20` makes a pod that takes
2 simulated seconds to become Ready take 0.1 real seconds, and tests stay fast.
"""

from __future__ import annotations

import asyncio
import time


class SimClock:
    """Simulated seconds since the epoch, advancing `speed` times faster than real time."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real_start = time.monotonic()
        self._sim_start = time.time()

    def now(self) -> float:
        return self._sim_start + (time.monotonic() - self._real_start) * self.speed

    def real_seconds(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real_seconds(sim_seconds))

    def rfc3339(self, at: float | None = None) -> str:
        moment = self.now() if at is None else at
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
