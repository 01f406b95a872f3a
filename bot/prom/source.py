"""The traffic gates' metrics source of one cluster: `PrometheusTraffic` satisfies
bot.workflow.ports.TrafficPort, and `probe` tells doctor whether the source answers and whether
Istio's series are there under the configured labels.

A read is three queries per chunk of workloads (one chunk up to ~1 MB of query: thousands of
workloads), whatever the number of workloads; each is evaluated at the window's end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config.gates import MetricsSourceConfig, SourceKind
from bot.prom.api import Hints, PromApi
from bot.prom.auth import Authorize, EntraBearer, TokenSource, anonymous, bearer_from_env
from bot.prom.queries import chunks, istio_series_query, queries_for, signals_of
from bot.traffic.signals import Signals, Window, WorkloadKey
from bot.upgrade.errors import Cause, MetricsUnavailable

MONITORING_ROLE = "Monitoring Data Reader"  # what Azure Monitor's PromQL API asks of a reader


@dataclass(frozen=True)
class Probe:
    """Whether the source answered (else `detail` says why and what to fix), and how many
    istio_requests_total series it holds for the configured labels."""

    answered: bool
    detail: str
    istio_series: int = 0


class PrometheusTraffic:
    """The golden signals of workloads, from Prometheus or an Azure Monitor workspace."""

    def __init__(self, api: PromApi, labels: Mapping[str, str] | None = None) -> None:
        self.api = api
        self.labels = dict(labels or {})

    @property
    def label(self) -> str:
        return self.api.label

    @property
    def queries(self) -> int:
        """HTTP queries sent so far, retries included (the benchmark's count)."""
        return self.api.sent

    def read(self, workloads: Sequence[WorkloadKey], window: Window
             ) -> dict[WorkloadKey, Signals]:
        at = unix_time(window.end)
        out: dict[WorkloadKey, Signals] = {}
        for chunk in chunks(workloads, window.seconds, self.labels):
            q = queries_for(chunk, window.seconds, self.labels)
            out.update(signals_of(self.api.query(q.requests, at), self.api.query(q.errors, at),
                                  self.api.query(q.p99, at), frozenset(chunk), window.seconds))
        return out

    def probe(self, now: datetime | None = None) -> Probe:
        """One query, `count(istio_requests_total{reporter="destination", <labels>})`."""
        at = unix_time(now or datetime.now(UTC))
        try:
            found = self.api.query(istio_series_query(self.labels), at)
        except MetricsUnavailable as exc:
            return Probe(False, str(exc))
        series = int(found[0][1]) if found else 0
        return Probe(True, f"{self.label} answers", series)

    def close(self) -> None:
        self.api.close()


def unix_time(when: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC (the store's convention)."""
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def connect_traffic(source: MetricsSourceConfig, tokens: TokenSource | None = None, *,
                    on_error: Callable[[Cause], None] | None = None,
                    ca_file: str | None = None,
                    env: Mapping[str, str] | None = None) -> PrometheusTraffic:
    """The metrics source `source` configures; `tokens` (ArmEndpoint.kube_tokens()) is needed
    by an azure_monitor source only, `env` is where a bearer token variable is read."""
    label, hints, authorize = _describe(source, tokens, env)
    api = PromApi(source.url, label, hints, authorize=authorize,
                  timeout=source.timeout.total_seconds(), retries=source.retries,
                  ca_file=ca_file, on_error=on_error, env=env)
    return PrometheusTraffic(api, source.labels)


def _describe(source: MetricsSourceConfig, tokens: TokenSource | None,
              env: Mapping[str, str] | None) -> tuple[str, Hints, Authorize]:
    query = ("Check traffic.source.labels in the configuration: label names are "
             "[a-zA-Z_][a-zA-Z0-9_]*, and each value is matched exactly.")
    if source.kind is SourceKind.AZURE_MONITOR:
        if tokens is None:
            raise ValueError("an azure_monitor source needs the bot's Entra ID tokens")
        label = f"Azure Monitor workspace {source.url}"
        return label, Hints(
            reach=f"Check traffic.source.url: the Query endpoint on the Azure Monitor "
                  f"workspace's Overview page ({source.url} now), and the bot's egress to it.",
            auth=f"Assign the bot's identity the role '{MONITORING_ROLE}' on the Azure "
                 f"Monitor workspace: az role assignment create --assignee <the bot's client "
                 f"id> --role \"{MONITORING_ROLE}\" --scope <the workspace's resource id>.",
            query=query), EntraBearer(tokens, label)
    label = f"Prometheus at {source.url}"
    variable = source.bearer_token_env
    auth = (f"Check the token in {variable}: Prometheus (or the proxy in front of it) refused "
            "it." if variable else "Prometheus asks for credentials: set "
            "traffic.source.bearer_token_env to a variable holding a token it accepts.")
    return label, Hints(
        reach=f"Check traffic.source.url ({source.url}) and that the bot reaches it (service "
              "name, port 9090, network policies).",
        auth=auth, query=query), bearer_from_env(variable, label, env) if variable else anonymous
