"""The YAML configuration: a valid file loads into frozen objects, and every mistake is
reported with the file, the line and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config.file import ConfigError
from bot.config.settings import (
    AccessMode,
    BotConfig,
    SlackMode,
    database_url,
    load_config,
    load_secrets,
)
from bot.upgrade.errors import GiveUp
from bot.upgrade.phases import Action

VALID = """\
database_url: sqlite:///var/lib/mesh-upgrade/bot.db
slack:
  mode: socket
clusters:
  - name: prod-weu
    subscription_id: 00000000-0000-0000-0000-000000000001
    resource_group: rg-prod
    cluster_name: aks-prod-weu
    channel: C0MESHOPS
    access:
      mode: kubeconfig
      kubeconfig: /etc/mesh/kubeconfig
      context: prod
    approvals:
      default:
        groups: [S0MESHAPPR]
        required: 1
      complete:
        groups: [S0MESHAPPR]
        users: [U0LEAD]
        required: 2
        expires_after: 8h
        remind_before: 1h30m
    restart:
      max_concurrency: 3
      progress_timeout: 15m
    soak_time: 45m
    namespaces:
      exclude: [legacy]
  - name: stage
    subscription_id: 00000000-0000-0000-0000-000000000002
    resource_group: rg-stage
    cluster_name: aks-stage
    channel: C0STAGE
    approvals:
      default: {users: [U0BOB]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return [str(p) for p in caught.value.problems]


def test_valid_file_loads_with_defaults_filled_in(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    prod = config.cluster("prod-weu")
    assert config.slack.mode is SlackMode.SOCKET
    assert prod.access.mode is AccessMode.KUBECONFIG and prod.access.context == "prod"
    assert prod.restart.max_concurrency == 3
    assert prod.restart.progress_timeout == timedelta(minutes=15)
    assert prod.soak_time == timedelta(minutes=45)
    assert prod.check_interval == timedelta(minutes=5)
    assert (prod.tags.stable, prod.tags.canary, prod.tags.use_tags) == ("prod-stable",
                                                                        "prod-canary", True)
    assert config.cluster("stage").access.mode is AccessMode.ARM_CREDENTIALS


def test_approval_policy_per_action_falls_back_to_default(tmp_path: Path) -> None:
    prod = load_config(write(tmp_path, VALID)).cluster("prod-weu")
    complete = prod.approval_policy(Action.COMPLETE)
    assert (complete.required, complete.users, complete.expires_after, complete.remind_before) == (
        2, ("U0LEAD",), timedelta(hours=8), timedelta(hours=1, minutes=30))
    start = prod.approval_policy(Action.START)
    assert (start.groups, start.required, start.expires_after) == (("S0MESHAPPR",), 1,
                                                                  timedelta(hours=24))


def test_bot_and_add_on_namespaces_are_always_out_of_scope(tmp_path: Path) -> None:
    prod = load_config(write(tmp_path, VALID)).cluster("prod-weu")
    assert {"legacy", "mesh-upgrade-bot", "aks-istio-system", "kube-system"} <= prod.out_of_scope()


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    with pytest.raises(ValidationError):
        config.database_url = "postgresql://elsewhere/db"


def test_unknown_cluster_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(GiveUp, match="Known clusters: prod-weu, stage"):
        load_config(write(tmp_path, VALID)).cluster("dev")


def test_wrong_type_names_file_line_and_key(tmp_path: Path) -> None:
    text = VALID.replace("max_concurrency: 3", "max_concurrency: lots")
    [problem] = problems(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'bot.yaml'}:25: clusters[0].restart.max_concurrency: ")
    assert "valid integer" in problem and "'lots'" in problem


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    text = VALID.replace("    soak_time: 45m\n", "    soak_time: 45m\n    soak_tme: 1h\n")
    assert problems(tmp_path, text) == [f"{tmp_path / 'bot.yaml'}:28: clusters[0].soak_tme: "
                                        "unknown key"]


def test_secret_in_file_is_refused_with_its_line(tmp_path: Path) -> None:
    text = VALID.replace("slack:\n", "slack:\n  bot_token: xoxb-123-456\n")
    [problem] = problems(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'bot.yaml'}:3: slack.bot_token: looks like a secret")
    assert "SLACK_BOT_TOKEN" in problem


def test_token_value_under_an_innocent_key_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("context: prod", "context: xapp-1-A0-secret")
    assert problems(tmp_path, text)[0].endswith(
        "clusters[0].access.context: looks like a secret; set it in the environment instead "
        "(SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, MESH_UPGRADE_DATABASE_URL)")


def test_database_password_in_file_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("sqlite:///var/lib/mesh-upgrade/bot.db", "postgresql://bot:hunter2@db/x")
    assert problems(tmp_path, text)[0].startswith(f"{tmp_path / 'bot.yaml'}:1: database_url: ")


def test_missing_key_points_at_the_enclosing_item(tmp_path: Path) -> None:
    text = VALID.replace("    cluster_name: aks-stage\n", "")
    assert problems(tmp_path, text) == [f"{tmp_path / 'bot.yaml'}:30: clusters[1].cluster_name: "
                                        "Field required"]


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = VALID.replace("channel: C0STAGE", "channel: '#stage'").replace("required: 2",
                                                                            "required: 0")
    path = tmp_path / "bot.yaml"
    assert problems(tmp_path, text) == [
        f"{path}:21: clusters[0].approvals.complete.required: "
        "Input should be greater than or equal to 1 (got 0)",
        f"{path}:34: clusters[1].channel: "
        "expected a Slack channel ID like C0123ABCD, not a name (got '#stage')",
    ]


def test_action_without_policy_is_an_error(tmp_path: Path) -> None:
    text = VALID.replace("      default: {users: [U0BOB]}", "      start: {users: [U0BOB]}")
    [problem] = problems(tmp_path, text)
    assert ":35: clusters[1].approvals: " in problem
    assert "no approval policy for ['cancel', 'complete', 'restart', 'roll', 'rollback']" in problem


def test_policy_nobody_can_satisfy_is_an_error(tmp_path: Path) -> None:
    text = VALID.replace("default: {users: [U0BOB]}", "default: {users: [U0BOB], required: 2}")
    assert "required is 2 but only 1 users" in problems(tmp_path, text)[0]


def test_repeated_key_is_an_error(tmp_path: Path) -> None:
    text = VALID.replace("    soak_time: 45m\n", "    soak_time: 45m\n    soak_time: 1h\n")
    assert problems(tmp_path, text) == [f"{tmp_path / 'bot.yaml'}:28: clusters[0].soak_time: "
                                        "repeated key (first on line 27)"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, VALID.replace("  mode: socket", "  mode: [socket"))
    assert problem.startswith(f"{tmp_path / 'bot.yaml'}:4: not valid YAML")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "absent.yaml")


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-env")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-env")
    monkeypatch.setenv("MESH_UPGRADE_DATABASE_URL", "postgresql://bot:pw@db/mesh")
    secrets = load_secrets(SlackMode.SOCKET)
    assert secrets.slack_app_token is not None
    assert secrets.slack_app_token.get_secret_value() == "xapp-env"
    assert "xapp-env" not in repr(secrets)
    config = load_config(write(tmp_path, VALID))
    assert database_url(config, secrets) == "postgresql://bot:pw@db/mesh"


def test_missing_secrets_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-env")
    with pytest.raises(ConfigError) as caught:
        load_secrets(SlackMode.HTTP)
    assert [str(p) for p in caught.value.problems] == [
        "environment: SLACK_SIGNING_SECRET: is not set"]


def test_default_database_is_sqlite(tmp_path: Path) -> None:
    text = VALID.replace("database_url: sqlite:///var/lib/mesh-upgrade/bot.db\n", "")
    assert load_config(write(tmp_path, text)).database_url == BotConfig.model_fields[
        "database_url"].default


# --- Slack names YAML loses -----------------------------------------------------------------


def test_an_unquoted_at_user_is_a_yaml_error_that_asks_for_the_member_id(tmp_path: Path) -> None:
    text = VALID.replace("users: [U0LEAD]", "users:\n          - @bob")
    line = text.splitlines().index("          - @bob") + 1
    (only,) = problems(tmp_path, text)
    assert only.startswith(f"{tmp_path / 'bot.yaml'}:{line}: not valid YAML: found character "
                           "'@' that cannot start any token; `@bob` cannot start an unquoted "
                           "YAML value (@ is reserved): for an approver use the member ID (U0…")
    assert "a quoted @name is refused too" in only


def test_a_hash_name_in_a_flow_list_is_found_on_its_own_line(tmp_path: Path) -> None:
    text = VALID.replace("groups: [S0MESHAPPR]\n        required: 1",
                         "groups: [#mesh-approvers]\n        required: 1")
    line = text.splitlines().index("        groups: [#mesh-approvers]") + 1
    (only,) = problems(tmp_path, text)
    assert "not valid YAML" in only
    assert (f"`#mesh-approvers` on line {line} was read as a YAML comment, which hid the rest "
            "of that line: use the Slack ID") in only


def test_a_hash_name_in_a_block_list_is_an_empty_item_explained(tmp_path: Path) -> None:
    text = VALID.replace("users: [U0LEAD]", "users:\n          - #bob")
    line = text.splitlines().index("          - #bob") + 1
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'bot.yaml'}:{line}: clusters[0].approvals.complete.users[0]: is empty: it "
        "looks like `#bob` was read as a YAML comment; use the member ID (U0…, in Slack: the "
        "profile's ⋮ menu > Copy member ID) instead: a quoted name is refused too, as approvers "
        "are matched by ID"]


def test_a_real_comment_after_an_empty_value_gets_no_slack_hint(tmp_path: Path) -> None:
    text = VALID.replace("channel: C0STAGE", "channel: # to be decided")
    (only,) = problems(tmp_path, text)
    assert only.endswith("clusters[1].channel: Input should be a valid string")
