"""The running bot: its services, Slack's way in, the ops endpoint and, with several
replicas, the leader election that decides which one drives runs and runs jobs.

`start` and `stop` bring the parts up and down in the order that keeps probes truthful (the
ops endpoint first, so /healthz says 503 until Slack is connected) and hands the Lease over
last-but-one (stop working first, then let the other replica take over).
"""

from __future__ import annotations

import sys

from bot.kube.lease import Elector
from bot.runtime.metrics import Metrics
from bot.runtime.ops import Check, OpsServer, Probe, database_probe, scheduler_probe
from bot.runtime.services import Services
from bot.slack.server import SlackServer

# A census parses 20,000 pods in a worker thread; with the default 5 ms GIL switch interval
# each hop of an ack (socket read, Bolt dispatch, listener, ack) waits behind it. 1 ms keeps
# acks fast at a small cost in throughput (bench/ack.py).
ACK_SWITCH_INTERVAL = 0.001


class Bot:
    def __init__(self, services: Services, slack: SlackServer, metrics: Metrics,
                 elector: Elector | None = None) -> None:
        self.services, self.slack, self.metrics = services, slack, metrics
        self.elector = elector  # None: a single replica, always active
        self.ops: OpsServer | None = None  # /healthz and /metrics, when `serve_ops` was called

    @property
    def request_url(self) -> str | None:
        return self.slack.request_url

    def serve_ops(self, host: str, port: int, database_url: str) -> OpsServer:
        """Serve /healthz, /livez and /metrics on `host:port` from `start()` on."""
        probes: dict[str, Probe] = {"slack": self.slack_check,
                                    "scheduler": scheduler_probe(self.services),
                                    "database": database_probe(database_url)}
        self.ops = OpsServer(probes, self.metrics, host, port)
        return self.ops

    def slack_check(self) -> Check:
        return Check(*self.slack.connected())

    def start(self) -> None:
        sys.setswitchinterval(ACK_SWITCH_INTERVAL)
        if self.ops is not None:  # first: probes see 503 until Slack is connected
            self.ops.start()
        self.services.start(active=self.elector is None)
        self.slack.start()
        if self.elector is not None:  # every replica answers Slack; the leader also works
            self.elector.start()

    def stop(self) -> None:
        if self.elector is not None:  # stop working first, then hand the Lease over
            self.elector.stop()
        self.slack.stop()
        self.services.close()
        if self.ops is not None:
            self.ops.stop()
