"""The Dockerfile without Docker (CI has no engine): its instructions are read and checked, and
the builder stage's steps run here: the files it COPYs (and .dockerignore lets through) build a
wheel, the wheel installs into a clean virtualenv, and the console script the image's
ENTRYPOINT names starts there with the runtime stage's environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.manifests import ROOT, one, render

DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    name: str  # upper case: FROM, COPY, RUN, ...
    args: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile lines with comments dropped and backslash continuations joined."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        name, _, args = (pending + line).partition(" ")
        out.append(Instruction(name.upper(), " ".join(args.split())))
        pending = ""
    return out


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for ins in instructions(DOCKERFILE.read_text()):
        if ins.name == "FROM":
            found.append([])
        found[-1].append(ins)
    return found


def _one(stage: list[Instruction], name: str) -> str:
    (args,) = [i.args for i in stage if i.name == name]
    return args


def _env(stage: list[Instruction]) -> dict[str, str]:
    pairs = " ".join(i.args for i in stage if i.name == "ENV")
    return dict(p.split("=", 1) for p in pairs.split())


def test_two_stages_on_the_projects_python_and_a_fixed_non_root_user() -> None:
    builder, runtime = stages()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    python = project["tool"]["mypy"]["python_version"]
    assert project["project"]["requires-python"] == f">={python}"
    assert builder[0].args == f"python:{python}-slim AS builder"
    assert runtime[0].args == f"python:{python}-slim"
    user = _one(runtime, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit(), "a numeric non-root UID:GID"
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))
    assert any(i.args == "--from=builder /opt/venv /opt/venv" for i in runtime
               if i.name == "COPY")
    assert "HEALTHCHECK" not in {i.name for stage in (builder, runtime) for i in stage}


def test_the_runtime_runs_the_console_script_and_writes_only_to_volumes() -> None:
    runtime = stages()[-1]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert json.loads(_one(runtime, "ENTRYPOINT")) == ["mesh-upgrade-bot"]
    assert "mesh-upgrade-bot" in project["project"]["scripts"]
    container = one(render(), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert json.loads(_one(runtime, "CMD")) == container["args"]
    env = _env(runtime)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/data", "/tmp"}
    for path in (env["MPLCONFIGDIR"], env["HOME"], _one(runtime, "WORKDIR")):
        assert any(Path(path).is_relative_to(w) for w in writable), path


def _builder_sources() -> list[str]:
    """What the builder COPYs from the build context."""
    copies = [i.args.split() for i in stages()[0] if i.name == "COPY"]
    return [src for args in copies if not args[0].startswith("--") for src in args[:-1]]


def test_dockerignore_lets_through_exactly_what_the_builder_copies() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "ignore everything, then let through what is copied"
    kept = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert kept == set(_builder_sources())


def test_the_builder_steps_make_a_wheel_whose_console_script_starts(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for src in _builder_sources():
        source = ROOT / src
        if source.is_dir():
            shutil.copytree(source, context / src,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            context.mkdir(exist_ok=True)
            shutil.copy2(source, context / src)
    run = _builder_run()
    assert re.search(r"pip wheel --no-deps --wheel-dir /wheels \.", run), run
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    _sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(wheels),
         str(context)])
    # The image's pip compiles bytecode; here that only costs time (~12 s), so it is skipped,
    # and this pip installs into the clean venv (`--python`) instead of the venv's own.
    _sh([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    _sh([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "-q", "--no-compile", *map(str, wheels.glob("*.whl"))])
    env = {**_env(stages()[-1]), "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
           "MPLCONFIGDIR": str(tmp_path / "matplotlib"), "HOME": str(tmp_path)}
    shown = _sh(["mesh-upgrade-bot", "--help"], env=env)
    assert "run" in shown and "census" in shown
    assert "--config" in _sh(["mesh-upgrade-bot", "run", "--help"], env=env)
    _runs_doctor_and_run_without_the_simulator(venv, env, tmp_path)
    # the chart module imports matplotlib: its cache goes to MPLCONFIGDIR, nowhere else
    _sh([str(venv / "bin" / "python"), "-c", "import bot.slack.charts.census"], env=env)
    assert list((tmp_path / "matplotlib").glob("fontlist-*.json")), "no font cache written"
    assert not (tmp_path / ".cache").exists() and not (tmp_path / ".config").exists()


def _runs_doctor_and_run_without_the_simulator(venv: Path, env: dict[str, str],
                                               tmp_path: Path) -> None:
    """The installed wheel carries no simulator and no test-only package, and its commands
    work without them: doctor reports (a red table, not a traceback), run refuses with a
    sentence when its tokens are missing."""
    python = str(venv / "bin" / "python")
    for absent in ("meshsim", "trustme", "pytest", "playwright"):  # aiohttp comes with kubernetes
        done = subprocess.run([python, "-c", f"import {absent}"], capture_output=True,
                              text=True, env={**os.environ, **env}, check=False,
                              cwd=tmp_path)  # not the repository, whose meshsim/ is there
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, absent
    config = tmp_path / "clusters.yaml"
    config.write_text(WHEEL_CONFIG.format(db=tmp_path / "bot.db"))
    clean = {k: v for k, v in {**os.environ, **env}.items()
             if not k.startswith(("SLACK_", "MESH_UPGRADE_"))}
    doctor = subprocess.run(["mesh-upgrade-bot", "doctor", "--config", str(config)],
                            capture_output=True, text=True, env=clean, timeout=120, check=False,
                            cwd=tmp_path)
    assert doctor.returncode == 1, doctor.stderr
    assert "config" in doctor.stdout and "FAIL" in doctor.stdout and "SLACK_BOT_TOKEN" in \
        doctor.stdout, doctor.stdout
    run = subprocess.run(["mesh-upgrade-bot", "run", "--config", str(config)],
                         capture_output=True, text=True, env=clean, timeout=60, check=False,
                         cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.startswith("error: "), run.stderr
    assert "SLACK_BOT_TOKEN" in run.stderr and "Traceback" not in run.stderr + doctor.stderr


WHEEL_CONFIG = """\
database_url: sqlite:///{db}
slack:
  mode: socket
clusters:
  - name: prod
    subscription_id: 00000000-0000-0000-0000-000000000000
    resource_group: rg
    cluster_name: aks-prod
    channel: C0MESHOPS
    approvals:
      default: {{users: [U0BOB], required: 1}}
"""


def _builder_run() -> str:
    return " ".join(i.args for i in stages()[0] if i.name == "RUN")


def _sh(args: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=150, check=False,
                          env=None if env is None else {**os.environ, **env}, cwd=ROOT)
    assert done.returncode == 0, f"{args[0]}: {done.stderr[-2000:]}"
    return done.stdout
