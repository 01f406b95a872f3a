"""The bot's configuration: one YAML file read once into frozen objects, secrets from the env.

People edit the file by hand, so every error names the file, the line and the key (how the
file is read for that is bot/config/file.py; this module is the schema). Secrets
(Slack tokens, the signing secret, a database password) are refused in the file: they come
only from the environment (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, and
MESH_UPGRADE_DATABASE_URL when the database URL carries a password).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config.fields import ApprovalConfig, ChannelId, ConfigModel, Duration
from bot.config.file import ConfigError, Problem, read_yaml, secrets_in_file, validation_problems
from bot.config.fleets import FleetConfig, with_fleet_windows
from bot.config.gates import ChangeWindowsConfig, TrafficConfig
from bot.upgrade.approvals import ApprovalPolicy
from bot.upgrade.errors import GiveUp
from bot.upgrade.phases import Action
from bot.upgrade.plan import WAVE_PER_CONCURRENCY, Settings

ENV_SLACK_API = "MESH_UPGRADE_SLACK_API_URL"  # a Slack-compatible API (the simulator)
# Namespaces the bot never restarts or relabels, whatever the scope says.
ALWAYS_OUT_OF_SCOPE = frozenset({"kube-system", "aks-istio-system", "aks-istio-ingress",
                                 "aks-istio-egress"})


class SlackMode(StrEnum):
    SOCKET = "socket"
    HTTP = "http"


class AccessMode(StrEnum):
    KUBECONFIG = "kubeconfig"
    IN_CLUSTER = "in_cluster"
    # listClusterUserCredential, like az aks get-credentials; for an Entra ID cluster (a
    # kubelogin kubeconfig) with the bot's own Azure token for the AKS server app instead.
    ARM_CREDENTIALS = "arm_credentials"


class TagsConfig(ConfigModel):
    stable: str = "prod-stable"
    canary: str = "prod-canary"
    use_tags: bool = True

    @model_validator(mode="after")
    def _distinct(self) -> TagsConfig:
        if self.stable == self.canary:
            raise ValueError("the stable and canary tags must differ")
        return self


class RestartConfig(ConfigModel):
    max_concurrency: int = Field(default=5, ge=1, le=100)
    progress_timeout: Duration = timedelta(minutes=10)


class NamespacesConfig(ConfigModel):
    include: tuple[str, ...] = ()  # empty: every namespace with injected workloads
    exclude: tuple[str, ...] = ()


class PatchDriftConfig(ConfigModel):
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


class AccessConfig(ConfigModel):
    mode: AccessMode = AccessMode.ARM_CREDENTIALS
    kubeconfig: Path | None = None
    context: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AccessConfig:
        if (self.mode is AccessMode.KUBECONFIG) != (self.kubeconfig is not None):
            raise ValueError("kubeconfig is required with mode kubeconfig, and only then")
        return self


class ClusterConfig(ConfigModel):
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
    change_windows: ChangeWindowsConfig | None = None  # None: changes at any time

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


class LeaderElectionConfig(ConfigModel):
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


class SlackConfig(ConfigModel):
    mode: SlackMode = SlackMode.SOCKET


class BotConfig(ConfigModel):
    database_url: str = "sqlite:///mesh-upgrade.db"
    slack: SlackConfig = SlackConfig()
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    clusters: tuple[ClusterConfig, ...] = Field(min_length=1)
    fleets: tuple[FleetConfig, ...] = ()

    _fleet_windows = model_validator(mode="before")(with_fleet_windows)

    @model_validator(mode="after")
    def _unique_names(self) -> BotConfig:
        names = [c.name for c in self.clusters]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"cluster names must be unique; repeated: {dupes}")
        fleets = [f.name for f in self.fleets]
        if dupes := sorted({n for n in fleets if fleets.count(n) > 1}):
            raise ValueError(f"fleet names must be unique; repeated: {dupes}")
        for fleet in self.fleets:
            if unknown := sorted(set(fleet.clusters) - set(names)):
                raise ValueError(f"fleet {fleet.name} names clusters not configured under "
                                 f"clusters: {unknown}")
        return self

    def fleet(self, name: str) -> FleetConfig:
        for f in self.fleets:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.fleets) or "none is configured"
        raise GiveUp(f"There is no fleet '{name}'.", f"Known fleets: {known}.")

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
