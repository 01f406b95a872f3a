"""The bot's configuration: one YAML file read once into frozen objects, secrets from the env.

People edit the file by hand, so every error names the file, the line and the key (how the
file is read for that is bot/config/file.py; this module is the schema). Secrets
(Slack tokens, the signing secret, a database password) are refused in the file: they come
only from the environment (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, and
MESH_UPGRADE_DATABASE_URL when the database URL carries a password).
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config.file import ConfigError, Problem, read_yaml, secrets_in_file, validation_problems
from bot.traffic.verdicts import Thresholds
from bot.upgrade.approvals import ApprovalPolicy
from bot.upgrade.errors import GiveUp
from bot.upgrade.phases import Action
from bot.upgrade.plan import WAVE_PER_CONCURRENCY, Settings

ENV_SLACK_API = "MESH_UPGRADE_SLACK_API_URL"  # a Slack-compatible API (the simulator)
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
# Namespaces the bot never restarts or relabels, whatever the scope says.
ALWAYS_OUT_OF_SCOPE = frozenset({"kube-system", "aks-istio-system", "aks-istio-ingress",
                                 "aks-istio-egress"})


def _duration(value: Any) -> Any:
    """Accept "90s", "5m", "1h30m", "2d" beside what pydantic takes (seconds, ISO 8601)."""
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        return value
    d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def _slack_id(first: str, what: str, example: str) -> tuple[AfterValidator, WithJsonSchema]:
    """Approvers and channels are matched by ID; a #name or @name would never match. The JSON
    Schema carries the same pattern, so an editor flags a name as it is typed."""
    pattern = f"[{first}][A-Z0-9]{{2,}}"
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected a Slack {what} ID like {example}, not a name")
        return value

    schema = {"type": "string", "pattern": f"^{pattern}$",
              "description": f"a Slack {what} ID like {example} (not a name)"}
    return AfterValidator(check), WithJsonSchema(schema)


_USER_ID, _USER_SCHEMA = _slack_id("UW", "user", "U0123ABCD")
_GROUP_ID, _GROUP_SCHEMA = _slack_id("S", "user group", "S0123ABCD")
_CHANNEL_ID, _CHANNEL_SCHEMA = _slack_id("CGD", "channel", "C0123ABCD")
# pydantic would describe a timedelta as an ISO 8601 string ("format": "duration"), which
# would make editors flag the "90s" and "1h30m" that _duration accepts.
_DURATION_SCHEMA = WithJsonSchema({"type": ["string", "number"], "examples": ["90s", "30m",
                                                                              "1h30m", "2d"],
                                   "description": "a duration: 90s, 5m, 1h30m, 2d, seconds, "
                                                  "or ISO 8601 (PT5M)"})
Duration = Annotated[timedelta, BeforeValidator(_duration), _DURATION_SCHEMA]
UserId = Annotated[str, _USER_ID, _USER_SCHEMA]
GroupId = Annotated[str, _GROUP_ID, _GROUP_SCHEMA]
ChannelId = Annotated[str, _CHANNEL_ID, _CHANNEL_SCHEMA]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlackMode(StrEnum):
    SOCKET = "socket"
    HTTP = "http"


class AccessMode(StrEnum):
    KUBECONFIG = "kubeconfig"
    IN_CLUSTER = "in_cluster"
    # listClusterUserCredential, like az aks get-credentials; for an Entra ID cluster (a
    # kubelogin kubeconfig) with the bot's own Azure token for the AKS server app instead.
    ARM_CREDENTIALS = "arm_credentials"


class ApprovalConfig(_Model):
    groups: tuple[GroupId, ...] = ()
    users: tuple[UserId, ...] = ()
    required: int = Field(default=1, ge=1)
    expires_after: Duration = timedelta(hours=24)
    remind_before: Duration = timedelta(hours=2)

    @model_validator(mode="after")
    def _someone_can_approve(self) -> ApprovalConfig:
        if not self.groups and not self.users:
            raise ValueError("name at least one approver group or user")
        if not self.groups and self.required > len(self.users):
            raise ValueError(f"required is {self.required} but only {len(self.users)} users")
        if self.remind_before >= self.expires_after:
            raise ValueError("remind_before must be shorter than expires_after")
        return self

    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(self.groups, self.users, self.required, self.expires_after,
                              self.remind_before)


class TagsConfig(_Model):
    stable: str = "prod-stable"
    canary: str = "prod-canary"
    use_tags: bool = True

    @model_validator(mode="after")
    def _distinct(self) -> TagsConfig:
        if self.stable == self.canary:
            raise ValueError("the stable and canary tags must differ")
        return self


class RestartConfig(_Model):
    max_concurrency: int = Field(default=5, ge=1, le=100)
    progress_timeout: Duration = timedelta(minutes=10)


class NamespacesConfig(_Model):
    include: tuple[str, ...] = ()  # empty: every namespace with injected workloads
    exclude: tuple[str, ...] = ()


class PatchDriftConfig(_Model):
    enabled: bool = True
    cron: str = "0 8 * * 1-5"
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _valid(self) -> PatchDriftConfig:
        if len(self.cron.split()) != 5:
            raise ValueError(f"cron needs 5 fields (minute hour day month weekday): {self.cron!r}")
        if self.timezone not in available_timezones():
            raise ValueError(f"unknown timezone {self.timezone!r} (use e.g. Europe/Berlin)")
        return self


class AccessConfig(_Model):
    mode: AccessMode = AccessMode.ARM_CREDENTIALS
    kubeconfig: Path | None = None
    context: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AccessConfig:
        if (self.mode is AccessMode.KUBECONFIG) != (self.kubeconfig is not None):
            raise ValueError("kubeconfig is required with mode kubeconfig, and only then")
        return self


class SourceKind(StrEnum):
    PROMETHEUS = "prometheus"  # any Prometheus-compatible query API (in the cluster or not)
    AZURE_MONITOR = "azure_monitor"  # an Azure Monitor workspace, with the bot's Entra token


class OnBreach(StrEnum):
    PROPOSE = "propose"  # stop the waves and offer Roll back and Continue on the card
    ROLLBACK = "rollback"  # stop the waves and start the data-plane rollback at once


class MetricsSourceConfig(_Model):
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


class TrafficConfig(_Model):
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


class ClusterConfig(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    subscription_id: str = Field(pattern=r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
    resource_group: str = Field(min_length=1)
    cluster_name: str = Field(min_length=1)
    channel: ChannelId
    access: AccessConfig = AccessConfig()
    approvals: dict[str, ApprovalConfig]
    tags: TagsConfig = TagsConfig()
    restart: RestartConfig = RestartConfig()
    soak_time: Duration = timedelta(minutes=30)
    namespaces: NamespacesConfig = NamespacesConfig()
    check_interval: Duration = timedelta(minutes=5)
    patch_drift: PatchDriftConfig = PatchDriftConfig()
    bot_namespace: str = "mesh-upgrade-bot"
    traffic: TrafficConfig | None = None  # None: no traffic gates

    @field_validator("approvals")
    @classmethod
    def _every_action_has_a_policy(
        cls, approvals: dict[str, ApprovalConfig]
    ) -> dict[str, ApprovalConfig]:
        actions = {a.value for a in Action}
        if unknown := sorted(set(approvals) - actions - {"default"}):
            raise ValueError(f"approvals for unknown actions {unknown}; "
                             f"known: {sorted(actions)} and default")
        needed = actions - {Action.RETRY.value}  # retry falls back to start's policy
        if "default" not in approvals and (left := sorted(needed - set(approvals))):
            raise ValueError(f"no approval policy for {left}; add them or a 'default'")
        return approvals

    @model_validator(mode="after")
    def _bot_namespace_out_of_scope(self) -> ClusterConfig:
        if self.bot_namespace in self.namespaces.include:
            raise ValueError(f"namespaces.include lists the bot's own {self.bot_namespace}")
        return self

    def approval_policy(self, action: Action) -> ApprovalPolicy:
        """The policy of `action`, else the default; a retry of a paused step, when neither
        is set, is approved like the upgrade it continues (start's policy)."""
        chosen = self.approvals.get(action.value) or self.approvals.get("default") \
            or self.approvals[Action.START.value]
        return chosen.policy()

    def out_of_scope(self) -> frozenset[str]:
        return ALWAYS_OUT_OF_SCOPE | {self.bot_namespace} | set(self.namespaces.exclude)

    def settings(self) -> Settings:
        """What the plan and the workflow read of this cluster's configuration."""
        return Settings(self.name, self.tags.stable, self.tags.canary, self.tags.use_tags,
                        self.namespaces.include, self.out_of_scope(),
                        self.restart.max_concurrency * WAVE_PER_CONCURRENCY)


class LeaderElectionConfig(_Model):
    """With more than one replica (PostgreSQL): a coordination.k8s.io Lease in the bot's
    namespace elects the one replica that drives runs and runs jobs (bot/kube/lease.py)."""

    enabled: bool = False
    namespace: str | None = None  # None: POD_NAMESPACE, the service account's, or the default
    lease_name: str = Field(default="mesh-upgrade-bot-leader",
                            pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    lease_duration: Duration = timedelta(seconds=15)
    renew_deadline: Duration = timedelta(seconds=10)
    retry_period: Duration = timedelta(seconds=2)
    access: AccessConfig = AccessConfig(mode=AccessMode.IN_CLUSTER)

    @model_validator(mode="after")
    def _timings(self) -> LeaderElectionConfig:
        # The kubernetes client's leaderelection.Config exits the process on these, and
        # writes leaseDurationSeconds as an integer.
        lease, renew = self.lease_duration.total_seconds(), self.renew_deadline.total_seconds()
        retry = self.retry_period.total_seconds()
        if lease != int(lease) or lease <= renew:
            raise ValueError("lease_duration must be whole seconds, longer than renew_deadline")
        if retry < 1 or renew <= 1.2 * retry:
            raise ValueError("retry_period must be at least 1 s and renew_deadline longer "
                             "than 1.2 x retry_period")
        if self.access.mode is AccessMode.ARM_CREDENTIALS:
            raise ValueError("the Lease lives in the bot's own cluster: use in_cluster or "
                             "kubeconfig access")
        return self


class SlackConfig(_Model):
    mode: SlackMode = SlackMode.SOCKET


class BotConfig(_Model):
    database_url: str = "sqlite:///mesh-upgrade.db"
    slack: SlackConfig = SlackConfig()
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    clusters: tuple[ClusterConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> BotConfig:
        names = [c.name for c in self.clusters]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"cluster names must be unique; repeated: {dupes}")
        return self

    def cluster(self, name: str) -> ClusterConfig:
        for c in self.clusters:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.clusters)
        raise GiveUp(f"There is no cluster '{name}'.", f"Known clusters: {known}.")


class Secrets(BaseSettings):
    """Only from the environment; which ones are required depends on the Slack mode."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    mesh_upgrade_database_url: SecretStr | None = None  # overrides database_url (a password)


def load_secrets(mode: SlackMode) -> Secrets:
    """Read the secrets from the environment; ConfigError names every one that is missing."""
    secrets = Secrets()
    needed = ["slack_bot_token", "slack_app_token" if mode is SlackMode.SOCKET
              else "slack_signing_secret"]
    if missing := [n.upper() for n in needed if getattr(secrets, n) is None]:
        raise ConfigError([Problem("environment", 0, name, "is not set") for name in missing],
                          f"Set them before starting the bot in {mode} mode.")
    return secrets


def database_url(config: BotConfig, secrets: Secrets) -> str:
    override = reveal(secrets.mesh_upgrade_database_url)
    return override if override is not None else config.database_url


def reveal(secret: SecretStr | None) -> str | None:
    """An optional secret's value, only where it is handed to a client (or to the log mask)."""
    return secret.get_secret_value() if secret is not None else None


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, for editors (yaml-language-server)."""
    schema = BotConfig.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "mesh-upgrade-bot configuration (clusters.yaml)", **{
                k: v for k, v in schema.items() if k != "title"}}


def load_config(path: str | Path) -> BotConfig:
    """Parse and validate the YAML file; ConfigError lists every problem with file:line:key."""
    file = str(path)
    doc = read_yaml(file)
    if problems := secrets_in_file(file, doc.data, doc.lines):
        raise ConfigError(problems, "Secrets belong in the environment, not in the file.")
    try:
        return BotConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(doc, exc)) from None
