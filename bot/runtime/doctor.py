"""`mesh-upgrade-bot doctor --config FILE`: is everything the bot needs in place, and if not, how
to fix it. Exit status 0 when every check passes, 1 otherwise.

In order: the configuration file; the secrets in the environment; the database; Slack (the bot
token through auth.test and its scopes from the `x-oauth-scopes` header, the app token for
Socket Mode, the bot's membership of each configured channel, the approver groups); then per
cluster ARM (read the managedCluster and its meshUpgradeProfiles; the actions the bot needs at
the cluster's scope, write included, from the permissions ARM reports for it, so nothing is
written: bot/azure/permissions.py), Kubernetes access (through
listClusterUserCredential, a kubeconfig or in-cluster; an Entra ID cluster with the bot's own
tokens) and every permission of bot/runtime/permissions.py through SelfSubjectAccessReviews.
A denied permission comes with the RBAC rule to add; one that Azure RBAC denied (AKS's "User
does not have access to the resource in Azure") with the least built-in AKS RBAC role that
allows it, and the `az role assignment create` that grants it. ARM is reached like `run`
reaches it (bot/azure/connect.py): DefaultAzureCredential, at the ARM that
MESH_UPGRADE_ARM_URL names if it is set.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from bot.config.file import ConfigError
from bot.config.settings import (
    AccessMode,
    BotConfig,
    ClusterConfig,
    Secrets,
    SlackMode,
    load_config,
    reveal,
)
from bot.runtime.doctor_traffic import check_traffic
from bot.runtime.permissions import (
    ARM,
    AZURE_RBAC_DENIED,
    SLACK_APP_SCOPES,
    SLACK_BOT_SCOPES,
    Scope,
    arm_actions,
    arm_role_advice,
    azure_role_advice,
    for_tags,
    least_aks_role,
    rbac_rules,
)
from bot.slack.client import TokenCheck, channel_membership, check_app_token, check_bot_token
from bot.upgrade.errors import MeshUpgradeError
from bot.upgrade.phases import Phase

if TYPE_CHECKING:
    from bot.azure.connect import ArmEndpoint
    from bot.kube.client import TokenSource


class Status(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    WARN = "warn"  # works, but something looks wrong; does not fail the exit status
    SKIP = "skip"  # not checkable from here; says what it needs


@dataclass(frozen=True)
class Row:
    check: str
    status: Status
    detail: str  # what was found; for a failure, what is wrong and how to fix it


@dataclass
class Findings:
    rows: list[Row] = field(default_factory=list)
    rules: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    def add(self, check: str, ok: bool, detail: str) -> None:
        self.rows.append(Row(check, Status.OK if ok else Status.FAIL, detail))

    def skip(self, check: str, detail: str) -> None:
        self.rows.append(Row(check, Status.SKIP, detail))

    def warn(self, check: str, detail: str) -> None:
        self.rows.append(Row(check, Status.WARN, detail))

    @property
    def failed(self) -> int:
        return sum(r.status is Status.FAIL for r in self.rows)


def run_doctor(args: argparse.Namespace, out: TextIO) -> int:
    findings = Findings()
    config = _check_config(args.config, findings)
    if config is not None:
        mode = SlackMode(args.mode) if args.mode else config.slack.mode
        secrets = Secrets()
        _check_secrets(mode, secrets, findings)
        _check_database(config, secrets, findings)
        _check_slack(config, mode, secrets, findings)
        from bot.azure.connect import ArmEndpoint

        arm = ArmEndpoint.from_env()  # one credential, one token cache, for every cluster
        for cluster in config.clusters:
            _check_cluster(cluster, arm, findings)
    out.write(_json(findings) if args.json else render(findings))
    return 1 if findings.failed else 0


# --- configuration, environment, database ----------------------------------------------------


def _check_config(path: str, f: Findings) -> BotConfig | None:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            f.add("config", False, f"{problem} ({exc.hint})")
        return None
    f.add(f"config {path}", True, f"{len(config.clusters)} cluster(s): "
          + ", ".join(c.name for c in config.clusters))
    return config


def _check_secrets(mode: SlackMode, secrets: Secrets, f: Findings) -> None:
    bot = reveal(secrets.slack_bot_token)
    f.add("env SLACK_BOT_TOKEN", bool(bot and bot.startswith("xoxb-")),
          "set" if bot and bot.startswith("xoxb-") else
          ("not a bot token: use the Bot User OAuth Token (xoxb-...) from the app's "
           "OAuth & Permissions page" if bot else "not set: export the Bot User OAuth Token "
           "(xoxb-...) from the app's OAuth & Permissions page"))
    if mode is SlackMode.SOCKET:
        app = reveal(secrets.slack_app_token)
        f.add("env SLACK_APP_TOKEN", bool(app and app.startswith("xapp-")),
              "set" if app and app.startswith("xapp-") else
              ("not" if app else "not set:") + " an app-level token: create one with "
              "connections:write under Basic Information > App-Level Tokens (xapp-...)")
        return
    signing = reveal(secrets.slack_signing_secret)
    f.add("env SLACK_SIGNING_SECRET", bool(signing),
          "set (only Slack's signed requests can prove it right: a wrong one gets 401s)"
          if signing else "not set: copy the Signing Secret from Basic Information > "
          "App Credentials (HTTP mode needs it)")


def _check_database(config: BotConfig, secrets: Secrets, f: Findings) -> None:
    from bot.config.settings import database_url
    from bot.runtime.ops import database_probe
    from bot.store.probe import describe_url

    url = database_url(config, secrets)
    shown, path = describe_url(url)
    if path and path != ":memory:" and not Path(path).exists():
        folder = Path(path).resolve().parent
        writable = folder.is_dir() and os.access(folder, os.W_OK)
        f.add("database", writable, f"{shown}: created at the first start" if writable else
              f"{shown}: {folder} is not a writable directory; create it or change "
              "database_url")
        return
    check = database_probe(url, schema=False)()
    f.add("database", check.ok, f"{shown}: {check.detail}" if check.ok else
          f"{shown}: {check.detail}; check the URL (MESH_UPGRADE_DATABASE_URL) and that the "
          "server accepts the bot")


# --- Slack -------------------------------------------------------------------------------------


def _check_slack(config: BotConfig, mode: SlackMode, secrets: Secrets, f: Findings) -> None:
    from bot.config.settings import ENV_SLACK_API

    base = os.environ.get(ENV_SLACK_API) or None
    token = reveal(secrets.slack_bot_token)
    if not token:
        return
    bot = check_bot_token(token, base)
    f.add("slack bot token (auth.test)", not bot.error, bot.who or _refused(
        "SLACK_BOT_TOKEN", bot.error, "copy the Bot User OAuth Token (xoxb-...) from "
        "OAuth & Permissions; reinstall the app if it was revoked"))
    if bot.error:
        return
    _check_scopes("slack bot token scopes", bot, SLACK_BOT_SCOPES, "Bot Token Scopes", f)
    app_token = reveal(secrets.slack_app_token)
    if mode is SlackMode.SOCKET and app_token:
        app = check_app_token(app_token, base)
        f.add("slack app token (apps.connections.open)", not app.error, app.who or _refused(
            "SLACK_APP_TOKEN", app.error, "create an app-level token with connections:write "
            "under Basic Information > App-Level Tokens, and turn Socket Mode on"))
        if not app.error:
            _check_scopes("slack app token scopes", app, SLACK_APP_SCOPES,
                          "the app-level token's scopes", f)
    for channel in sorted({c.channel for c in config.clusters} |
                          {fleet.channel for fleet in config.fleets}):  # fleet cards too
        _check_channel(token, channel, bot.name, base, f)
    _check_groups(config, token, base, f)


def _refused(variable: str, error: str, fix: str) -> str:
    return f"Slack refused {variable} ({error}): {fix}"


def _check_scopes(check: str, token: TokenCheck, needed: tuple[Scope, ...], where: str,
                  f: Findings) -> None:
    if token.scopes is None:
        f.skip(check, "Slack sent no x-oauth-scopes header; needs "
               + ", ".join(s.name for s in needed))
        return
    missing = [s for s in needed if s.name not in token.scopes]
    f.add(check, not missing, ", ".join(s.name for s in needed) + " granted" if not missing
          else "missing " + "; ".join(f"{s.name} ({s.why})" for s in missing)
          + f": add them under OAuth & Permissions > {where}, then reinstall the app")


def _check_channel(token: str, channel: str, bot_name: str, base: str | None,
                   f: Findings) -> None:
    member, said = channel_membership(token, channel, base)
    invite = f"type `/invite @{bot_name or 'the bot'}` in the channel"
    if member:
        detail = f"member of {said}"
    elif said.startswith("#") or said == "not_in_channel":
        detail = f"the bot is not a member of {said}: {invite}"
    elif said == "channel_not_found":
        detail = (f"Slack shows the bot no channel {channel}: check the channel ID in the "
                  f"configuration; for a private channel, {invite}")
    elif said == "missing_scope":
        detail = "cannot look: add the channels:read scope (groups:read for private channels)"
    else:
        detail = f"conversations.info failed: {said}"
    f.add(f"slack channel {channel}", member, detail)


def _check_groups(config: BotConfig, token: str, base: str | None, f: Findings) -> None:
    from bot.slack.client import usergroup_ids

    wanted = sorted({g for c in config.clusters for a in c.approvals.values() for g in a.groups}
                    | {g for fleet in config.fleets for g in fleet.promotion.groups})
    if not wanted:
        return
    known, error = usergroup_ids(token, base)
    for group in wanted:
        f.add(f"slack approver group {group}", group in known, "exists" if group in known else
              (f"usergroups.list failed: {error}" if error else
               "no such user group: check the ID in approvals (Slack's group URL ends in it)"))


# --- ARM and Kubernetes, per cluster -------------------------------------------------------------


def _check_cluster(cfg: ClusterConfig, arm: ArmEndpoint, f: Findings) -> None:
    from bot.azure.connect import connect_mesh

    name = cfg.name
    mesh = connect_mesh(cfg, arm)
    try:
        state = mesh.mesh_state()
        f.add(f"arm {name}: managedCluster", state.enabled,
              f"{cfg.resource_group}/{cfg.cluster_name}: Istio {', '.join(state.revisions)}, "
              f"{state.provisioning_state}, Kubernetes {state.kubernetes_version}"
              if state.enabled else "the Istio add-on is not enabled: az aks mesh enable")
        upgrades = mesh.available_upgrades()
        f.add(f"arm {name}: meshUpgradeProfiles", True, upgrades.reason or (
            "offers " + ", ".join(upgrades.upgrades) if upgrades.upgrades else "no upgrade"))
    except MeshUpgradeError as exc:
        f.add(f"arm {name}: managedCluster", False, str(exc))
    _check_arm_permissions(cfg, arm, f)
    _check_kubernetes(cfg, mesh, arm.kube_tokens(), f)
    check_traffic(cfg, arm, f.add, f.warn)


def _check_arm_permissions(cfg: ClusterConfig, arm: ArmEndpoint, f: Findings) -> None:
    """The cluster-scope actions, write included, from what ARM reports the bot may do."""
    from bot.azure.permissions import cluster_id, cluster_permissions, granted, principal_id

    name = cfg.name
    needed = arm_actions(cfg.access.mode is AccessMode.ARM_CREDENTIALS)
    try:
        grants = cluster_permissions(cfg, arm)
    except MeshUpgradeError as exc:
        f.add(f"arm {name}: permissions", False, f"could not read them: {exc.message} "
              f"{exc.hint}".strip())
        return
    missing = [a for a in needed if not granted(grants, a.action)]
    for a in missing:
        phases = ("every phase" if len(a.phases) == len(Phase)
                  else ", ".join(ph.value for ph in a.phases))
        f.add(f"arm {name}: {a.action}", False, f"not granted; needed by {phases} ({a.why})")
    if missing:
        f.add(f"arm {name}: Azure roles", False,
              arm_role_advice(missing, principal_id(arm), cluster_id(cfg)))
    else:
        f.add(f"arm {name}: permissions", True, f"{', '.join(a.action for a in needed)} "
              "granted (as ARM reports them; nothing written)")
    elsewhere = [a.action for a in ARM if not a.at_cluster]
    f.skip(f"arm {name}: location actions", f"{', '.join(elsewhere)} live under the "
           "subscription's locations, whose permissions ARM does not report: grant Reader "
           "(or deploy/azure's location role) at the subscription")


def _check_kubernetes(cfg: ClusterConfig, mesh: Any, tokens: TokenSource, f: Findings) -> None:
    from bot.kube.access_review import review, server_version
    from bot.kube.client import kube_api_client, token_principal

    name = cfg.name
    try:
        api = kube_api_client(cfg.access, mesh.user_kubeconfig, mesh.label, tokens)
        version = server_version(api)
        f.add(f"k8s {name}: access", True, f"{cfg.access.mode}: Kubernetes {version}")
        verdicts = review(api, for_tags((cfg.tags.stable, cfg.tags.canary)))
    except MeshUpgradeError as exc:
        f.add(f"k8s {name}: access", False, str(exc))
        return
    denied = [v for v in verdicts if not v.allowed]
    if not denied:
        f.add(f"k8s {name}: RBAC", True, f"all {len(verdicts)} permissions granted")
        return
    for v in denied:
        p = v.permission
        rule = {"apiGroups": [p.group], "resources": [p.resource], "verbs": [p.verb],
                **({"resourceNames": [p.name]} if p.name else {})}
        where = f"the bot's {p.role_kind}" + (f" in {p.namespace}" if p.namespace else "")
        fix = (f"Azure RBAC denied it ({v.reason}); {least_aks_role(p)} allows it"
               if AZURE_RBAC_DENIED in v.reason else f"Add to {where}: {json.dumps(rule)}")
        f.add(f"k8s {name}: {p}", False,
              f"denied; needed by {', '.join(ph.value for ph in p.phases)} ({p.why}). {fix}")
    by_azure = [v.permission for v in denied if AZURE_RBAC_DENIED in v.reason]
    if by_azure:
        scope = (f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}"
                 f"/providers/Microsoft.ContainerService/managedClusters/{cfg.cluster_name}")
        f.add(f"k8s {name}: Azure RBAC", False,
              azure_role_advice(by_azure, token_principal(api), scope))
    f.rules[name] = {f"{kind} in namespace {ns}" if ns else kind: rules
                     for (kind, ns), rules in rbac_rules(v.permission for v in denied).items()}


# --- output ------------------------------------------------------------------------------------


def render(f: Findings) -> str:
    rows = [("CHECK", "STATUS", "DETAIL / FIX"),
            *((r.check, r.status.value, r.detail) for r in f.rows)]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{c.ljust(width[0])}  {s.ljust(width[1])}  {d}" for c, s, d in rows]
    for cluster, rules in f.rules.items():
        lines += ["", f"RBAC rules to add for {cluster} (merge into deploy/'s roles):"]
        for role, items in rules.items():
            lines.append(f"# {role}")
            lines += yaml.safe_dump(items, default_flow_style=None, sort_keys=False).splitlines()
    failed = f.failed
    lines += ["", f"{len(f.rows)} checks, {failed} failed" if failed
              else f"all {len(f.rows)} checks passed"]
    return "\n".join(lines) + "\n"


def _json(f: Findings) -> str:
    return json.dumps({"ok": not f.failed, "checks": [asdict(r) for r in f.rows],
                       "rbac_rules": f.rules}, indent=2) + "\n"
