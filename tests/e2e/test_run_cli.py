"""`mesh-upgrade-bot run` refuses to start with a sentence, never a traceback: a configuration
error names the file, line and key; a missing secret names the variable; a token Slack refuses
says so. Each exits with status 2."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from bot.cli.sandbox import sandbox_config
from meshsim.sim import MeshSim
from tests.e2e.run_process import BOT, secrets_env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MESH_UPGRADE_"))}
    return subprocess.run([str(BOT), "run", *args], cwd=cwd, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_a_config_error_names_file_line_and_key_with_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "clusters.yaml").write_text("""\
database_url: sqlite:///bot.db
slack:
  mode: socket
clusters:
  - name: prod-weu
    subscription_id: 00000000-0000-0000-0000-000000000001
    resource_group: rg-prod
    cluster_name: aks-prod-weu
    approvals:
      default:
        groups: [S0MESHAPPR]
    channel: "#mesh-ops"
""")
    done = run(["--config", "clusters.yaml"], tmp_path, {})
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "error: clusters.yaml:12: clusters[0].channel: expected a Slack channel ID like "
        "C0123ABCD, not a name (got '#mesh-ops')")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_secret_in_the_file_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "clusters.yaml").write_text("slack:\n  mode: socket\n  bot_token: xoxb-1-2\n")
    done = run(["--config", "clusters.yaml"], tmp_path, {})
    assert done.returncode == 2
    assert done.stderr.startswith("error: clusters.yaml:3: slack.bot_token: looks like a secret")
    assert "xoxb-1-2" not in done.stderr


def test_a_missing_secret_is_named(tmp_path: Path) -> None:
    with MeshSim("bookinfo", 20.0, tmp_path / "sim") as sim:
        config = sandbox_config(sim.describe(), 60, 20, f"sqlite:///{tmp_path / 'bot.db'}")
    (tmp_path / "clusters.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    done = run(["--config", "clusters.yaml", "--mode", "http"], tmp_path,
               {"SLACK_BOT_TOKEN": "xoxb-1-2-3"})
    assert done.returncode == 2
    assert "error: environment: SLACK_SIGNING_SECRET: is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_refused_bot_token_stops_the_bot_with_a_hint(tmp_path: Path) -> None:
    with MeshSim("bookinfo", 20.0, tmp_path / "sim") as sim:
        config = sandbox_config(sim.describe(), 60, 20, f"sqlite:///{tmp_path / 'bot.db'}")
        (tmp_path / "clusters.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
        done = run(["--config", "clusters.yaml", "--ops-port", "0"], tmp_path,
                   {**secrets_env(sim), "SLACK_BOT_TOKEN": "xoxb-9-9-refused"})
    assert done.returncode == 2
    assert "error: Slack refused to start the bot" in done.stderr
    assert "invalid_auth" in done.stderr
    assert "hint: Check SLACK_BOT_TOKEN and SLACK_APP_TOKEN; `mesh-upgrade-bot doctor" \
        in done.stderr
    assert "Traceback" not in done.stderr and "xoxb-9-9-refused" not in done.stderr
