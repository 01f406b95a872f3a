"""`mesh-upgrade-bot --version`, `config validate` and `config schema`: the version from the
one place it is written, a file checked offline with `run`'s own words and exit statuses CI can
tell apart, and a JSON Schema an editor can validate the file with."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.cli.main import main
from bot.config.identity import user_agent
from tests.sim_bot import ROOT
from tests.unit.test_config import VALID

PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
NAMED_CHANNEL = VALID.replace("channel: C0MESHOPS", "channel: #mesh-ops")


def write(tmp_path: Path, text: str, name: str = "clusters.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_version_prints_the_version_written_in_pyproject(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"mesh-upgrade-bot {PYPROJECT_VERSION}\n"
    assert user_agent().startswith(f"mesh-upgrade-bot/{PYPROJECT_VERSION} (")


def test_identity_no_longer_writes_a_version_of_its_own() -> None:
    source = (ROOT / "bot" / "config" / "identity.py").read_text()
    assert PYPROJECT_VERSION not in source


def test_help_and_version_load_no_heavy_package() -> None:
    probe = ("import sys, contextlib, io; from bot.cli.main import main\n"
             "for argv in (['--help'], ['config', 'validate', '--help'], ['--version']):\n"
             "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):"
             "\n        main(argv)\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'yaml', "
             "'azure', 'kubernetes', 'slack_sdk', 'sqlalchemy', 'matplotlib'}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_a_valid_file_exits_0_and_names_its_clusters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    assert main(["config", "validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: valid (2 cluster(s): prod-weu, stage)\n"


def test_an_invalid_file_exits_1_with_the_very_lines_run_prints(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID.replace("users: [U0BOB]", "users: [bob]")
                 .replace("soak_time: 45m", "soak_time: soon"))
    assert main(["config", "validate", str(path)]) == 1
    validated = capsys.readouterr()
    assert main(["run", "--config", str(path)]) == 2
    assert capsys.readouterr().err == validated.err
    assert validated.out == ""
    errors = validated.err.splitlines()
    line = VALID.splitlines().index("    soak_time: 45m") + 1
    assert f"error: {path}:{line}: clusters[0].soak_time: " in errors[0]
    assert "expected a Slack user ID like U0123ABCD, not a name (got 'bob')" in errors[1]
    assert errors[-1] == ("hint: Fix the file, then check it again: "
                          "mesh-upgrade-bot config validate FILE")


def test_a_file_that_cannot_be_read_exits_3(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["config", "validate", str(missing)]) == 3
    assert f"error: {missing}: No such file or directory" in capsys.readouterr().err
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes("channel: café".encode("latin-1"))
    assert main(["config", "validate", str(binary)]) == 3
    err = capsys.readouterr().err
    assert f"error: {binary}: not UTF-8 text" in err and "hint: Save the file as UTF-8." in err


def test_a_channel_name_lost_to_a_yaml_comment_is_explained(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, NAMED_CHANNEL)
    assert main(["config", "validate", str(path)]) == 1
    line = NAMED_CHANNEL.splitlines().index("    channel: #mesh-ops") + 1
    (first, _) = capsys.readouterr().err.splitlines()
    assert first == (f"error: {path}:{line}: clusters[0].channel: is empty: it looks like "
                     "`#mesh-ops` was read as a YAML comment; use the channel ID (C0…, at the "
                     "bottom of the channel's About tab in Slack) instead: a quoted name is "
                     "refused too, as channels are matched by ID")


def test_the_schema_is_json_schema_that_accepts_the_example_and_flags_names(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(yaml.safe_load(VALID))) == []
    named = yaml.safe_load(VALID.replace("channel: C0MESHOPS", "channel: '#mesh-ops'")
                           .replace("users: [U0BOB]", "users: ['@bob']"))
    where = sorted(tuple(e.absolute_path) for e in validator.iter_errors(named))
    assert where == [("clusters", 0, "channel"),
                     ("clusters", 1, "approvals", "default", "users", 0)]
    lost = yaml.safe_load(NAMED_CHANNEL)
    assert [e.validator for e in validator.iter_errors(lost)] == ["type"], "null is flagged"
    unknown = yaml.safe_load(VALID.replace("soak_time: 45m", "soak_tme: 45m"))
    assert [e.validator for e in validator.iter_errors(unknown)] == ["additionalProperties"]
