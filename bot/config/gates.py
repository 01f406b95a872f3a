"""The configuration of what may hold a run back: traffic gates (the metrics source and
thresholds) and change windows (weekly windows and freezes in a time zone)."""

from __future__ import annotations

from datetime import date, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import available_timezones

from pydantic import Field, model_validator

from bot.config.fields import ConfigModel, Duration
from bot.schedule.windows import DAYS, ChangeWindows, Freeze, WeeklyWindow
from bot.traffic.verdicts import Thresholds


class SourceKind(StrEnum):
    PROMETHEUS = "prometheus"  # any Prometheus-compatible query API (in the cluster or not)
    AZURE_MONITOR = "azure_monitor"  # an Azure Monitor workspace, with the bot's Entra token


class OnBreach(StrEnum):
    PROPOSE = "propose"  # stop the waves and offer Roll back and Continue on the card
    ROLLBACK = "rollback"  # stop the waves and start the data-plane rollback at once


class MetricsSourceConfig(ConfigModel):
    kind: SourceKind = SourceKind.PROMETHEUS
    # The query API's base URL: http://prometheus.monitoring:9090, or the workspace's
    # query endpoint https://<workspace>-<id>.<region>.prometheus.monitor.azure.com
    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    # An environment variable holding a bearer token for a `prometheus` source (mounted from
    # a Secret); never the token itself.
    bearer_token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # Label matchers every query carries, e.g. {cluster: aks-prod-1} on a shared workspace.
    labels: dict[str, str] = {}
    timeout: Duration = timedelta(seconds=10)
    retries: int = Field(default=2, ge=0, le=5)

    @model_validator(mode="after")
    def _token_fits_kind(self) -> MetricsSourceConfig:
        if self.kind is SourceKind.AZURE_MONITOR and self.bearer_token_env is not None:
            raise ValueError("an azure_monitor source uses the bot's Entra ID token; "
                             "bearer_token_env is for a prometheus source")
        if self.kind is SourceKind.AZURE_MONITOR and not self.url.startswith("https://"):
            raise ValueError("an Azure Monitor workspace's query endpoint is https://")
        return self


class TrafficConfig(ConfigModel):
    """Traffic gates: the golden signals of each wave's workloads before and after it, and of
    every moved workload over the soak, read from Prometheus (README: Traffic gates)."""

    source: MetricsSourceConfig
    baseline_window: Duration = timedelta(minutes=5)
    observation_window: Duration = timedelta(minutes=5)
    max_success_drop: float = Field(default=1.0, ge=0, le=100)  # percentage points
    max_p99_growth: float = Field(default=0.20, ge=0)  # a fraction: 0.2 is +20 %
    max_p99_growth_ms: float = Field(default=50.0, ge=0)
    min_requests: int = Field(default=100, ge=1)
    on_breach: OnBreach = OnBreach.PROPOSE

    @model_validator(mode="after")
    def _windows(self) -> TrafficConfig:
        if self.baseline_window < timedelta(seconds=5) or \
                self.observation_window < timedelta(seconds=5):
            raise ValueError("baseline_window and observation_window must be at least 5s")
        return self

    def thresholds(self) -> Thresholds:
        return Thresholds(self.max_success_drop, self.max_p99_growth, self.max_p99_growth_ms,
                          self.min_requests)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class WeeklyWindowConfig(ConfigModel):
    days: tuple[Weekday, ...] = Field(min_length=1)
    start: time  # "22:00", local to change_windows.timezone
    duration: Duration

    @model_validator(mode="after")
    def _length(self) -> WeeklyWindowConfig:
        if not timedelta(minutes=15) <= self.duration <= timedelta(days=7):
            raise ValueError("duration must be between 15m and 7d")
        return self


class FreezeConfig(ConfigModel):
    start: date  # the first frozen day, local to change_windows.timezone
    end: date  # the last frozen day (included)
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> FreezeConfig:
        if self.end < self.start:
            raise ValueError("a freeze must end on or after its start")
        return self


class ChangeWindowsConfig(ConfigModel):
    """When the steps that disturb traffic may run (start, each restart wave, complete, the
    ARM rollback); no weekly windows: any time but a freeze."""

    timezone: str = "UTC"
    weekly: tuple[WeeklyWindowConfig, ...] = ()
    freezes: tuple[FreezeConfig, ...] = ()

    @model_validator(mode="after")
    def _zone(self) -> ChangeWindowsConfig:
        if self.timezone not in available_timezones():
            raise ValueError(f"unknown timezone {self.timezone!r} (use e.g. Europe/Berlin)")
        if not self.weekly and not self.freezes:
            raise ValueError("name weekly windows or freezes (or leave change_windows out)")
        return self

    def windows(self) -> ChangeWindows:
        return ChangeWindows(
            self.timezone,
            tuple(WeeklyWindow(tuple(sorted({DAYS.index(d) for d in w.days})), w.start,
                               w.duration) for w in self.weekly),
            tuple(Freeze(f.start, f.end, f.reason) for f in self.freezes))
