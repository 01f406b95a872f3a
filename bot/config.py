"""The bot's configuration: one YAML file read once into frozen objects, secrets from the env.

People edit the file by hand, so every error names the file, the line and the key. Secrets
(Slack tokens, the signing secret, a database password) are refused in the file: they come
only from the environment (SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, and
MESH_UPGRADE_DATABASE_URL when the database URL carries a password).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.approvals import ApprovalPolicy
from bot.errors import GiveUp, MeshUpgradeError
from bot.upgrade import Action

Loc = tuple[str | int, ...]
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_SECRET_KEY = re.compile(r"token|secret|passw|api[_-]?key|private[_-]?key", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(xox[abposre]|xapp)-")
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


def _slack_id(first: str, what: str, example: str) -> AfterValidator:
    """Approvers and channels are matched by ID; a #name or @name would never match."""
    pattern = re.compile(f"[{first}][A-Z0-9]{{2,}}")

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"expected a Slack {what} ID like {example}, not a name")
        return value

    return AfterValidator(check)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
UserId = Annotated[str, _slack_id("UW", "user", "U0123ABCD")]
GroupId = Annotated[str, _slack_id("S", "user group", "S0123ABCD")]
ChannelId = Annotated[str, _slack_id("CGD", "channel", "C0123ABCD")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlackMode(StrEnum):
    SOCKET = "socket"
    HTTP = "http"


class AccessMode(StrEnum):
    KUBECONFIG = "kubeconfig"
    IN_CLUSTER = "in_cluster"
    ARM_CREDENTIALS = "arm_credentials"  # listClusterUserCredential, like az aks get-credentials


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

    @field_validator("approvals")
    @classmethod
    def _every_action_has_a_policy(
        cls, approvals: dict[str, ApprovalConfig]
    ) -> dict[str, ApprovalConfig]:
        actions = {a.value for a in Action}
        if unknown := sorted(set(approvals) - actions - {"default"}):
            raise ValueError(f"approvals for unknown actions {unknown}; "
                             f"known: {sorted(actions)} and default")
        if "default" not in approvals and (left := sorted(actions - set(approvals))):
            raise ValueError(f"no approval policy for {left}; add them or a 'default'")
        return approvals

    @model_validator(mode="after")
    def _bot_namespace_out_of_scope(self) -> ClusterConfig:
        if self.bot_namespace in self.namespaces.include:
            raise ValueError(f"namespaces.include lists the bot's own {self.bot_namespace}")
        return self

    def approval_policy(self, action: Action) -> ApprovalPolicy:
        chosen = self.approvals.get(action.value) or self.approvals["default"]
        return chosen.policy()

    def out_of_scope(self) -> frozenset[str]:
        return ALWAYS_OUT_OF_SCOPE | {self.bot_namespace} | set(self.namespaces.exclude)


class LeaderElectionConfig(_Model):
    """With more than one replica (PostgreSQL): a coordination.k8s.io Lease in the bot's
    namespace elects the one replica that drives runs and runs jobs (bot/leader.py)."""

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
    override = secrets.mesh_upgrade_database_url
    return override.get_secret_value() if override is not None else config.database_url


# --- reading the file with line numbers -----------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when there is no line (the environment, a missing file)
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(MeshUpgradeError):
    def __init__(self, problems: list[Problem], hint: str = "") -> None:
        text = "Configuration error" + ("s" if len(problems) > 1 else "") + ":\n"
        super().__init__(text + "\n".join(f"  {p}" for p in problems),
                         hint or "Fix the file and start the bot again.")
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}"


def load_config(path: str | Path) -> BotConfig:
    """Parse and validate the YAML file; ConfigError lists every problem with file:line:key."""
    file = str(path)
    data, lines = _read_yaml(file)
    if problems := _secrets_in_file(file, data, lines):
        raise ConfigError(problems, "Secrets belong in the environment, not in the file.")
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(file, lines, e) for e in _most_specific(exc)]) from None


def _read_yaml(file: str) -> tuple[Any, dict[Loc, int]]:
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(file, 0, "", exc.strerror or str(exc))]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError([Problem(file, line, "", f"not valid YAML: {exc.problem}")]) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    _index(node, (), lines, file) if node is not None else None
    return data, lines


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], file: str) -> None:
    """Record the line of every key and list item; a repeated key is an error."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*loc, str(key_node.value))
            if child in lines:
                raise ConfigError([Problem(file, key_node.start_mark.line + 1, _key(child),
                                           f"repeated key (first on line {lines[child]})")])
            lines[child] = key_node.start_mark.line + 1
            _index(value_node, child, lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, file)


def _secrets_in_file(file: str, data: Any, lines: dict[Loc, int], loc: Loc = ()) -> list[Problem]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _secret_item(file, v, lines, (*loc, str(k)))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _secrets_in_file(file, v, lines, (*loc, i))]
    return []


def _secret_item(file: str, value: Any, lines: dict[Loc, int], loc: Loc) -> list[Problem]:
    name = str(loc[-1])
    if _SECRET_KEY.search(name) or (isinstance(value, str) and _looks_secret(name, value)):
        return [Problem(file, _line(lines, loc), _key(loc),
                        "looks like a secret; set it in the environment instead "
                        "(SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, "
                        "MESH_UPGRADE_DATABASE_URL)")]
    return _secrets_in_file(file, value, lines, loc)


def _looks_secret(name: str, value: str) -> bool:
    has_password = name == "database_url" and urlsplit(value).password is not None
    return bool(_SECRET_VALUE.match(value)) or has_password


def _most_specific(exc: ValidationError) -> list[Any]:
    """Drop an error on a list or model when one of its items has its own error: a failed
    item also makes pydantic report the list "too short", which only misleads."""
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    return [e for e, loc in zip(errors, locs, strict=True)
            if not any(len(o) > len(loc) and o[:len(loc)] == loc for o in locs)]


def _problem(file: str, lines: dict[Loc, int], error: Any) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    message = "unknown key" if kind == "extra_forbidden" else error["msg"]
    if kind not in ("missing", "extra_forbidden") and isinstance(error.get("input"),
                                                               str | int | float):
        message += f" (got {error['input']!r})"
    return Problem(file, _line(lines, loc), _key(loc), message.removeprefix("Value error, "))


def _line(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of `loc`, or of its nearest ancestor in the file (a missing key)."""
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _key(loc: Loc) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return text or "(top level)"
