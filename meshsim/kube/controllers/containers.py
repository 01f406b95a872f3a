"""What the simulated container runtime does with each container of a started pod, as the
kubelet would report it: how long an app runs, how it exits, and which containers keep running.

A pod with `restartPolicy` Never or OnFailure runs to completion: each app container runs
`meshsim.io/run-seconds` (default 5) and exits with `meshsim.io/exit-code` (default 0); under
OnFailure a failed one is restarted after the kubelet's crash back-off. A classic istio-proxy
(a regular container) does not know the app is done and keeps running, so the pod never
finishes, unless the pod carries `meshsim.io/quits-proxy: "true"` (the job calls pilot-agent's
/quitquitquit when it ends). A native sidecar (an init container with `restartPolicy: Always`)
is stopped by the kubelet once every app container has ended (KEP-753), exiting 0.

`meshsim.io/crash-loop: "true"` makes the app of any pod exit at once (code 1 unless
`meshsim.io/exit-code` says otherwise) every time it starts: under restartPolicy Always or
OnFailure the kubelet restarts it after its back-off, so it sits in CrashLoopBackOff.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshsim.kube.printers import seconds
from meshsim.kube.store import Obj

RUN_SECONDS = "meshsim.io/run-seconds"
EXIT_CODE = "meshsim.io/exit-code"
QUITS_PROXY = "meshsim.io/quits-proxy"
CRASH_LOOP = "meshsim.io/crash-loop"
DEFAULT_RUN_SECONDS = 5.0
PROXY = "istio-proxy"
NEVER_READY, CRASHLOOP = "never-ready", "crashloop"


@dataclass(frozen=True)
class Plan:
    """How this pod's app containers run, read from its spec and annotations."""

    finite: bool  # they run to completion (restartPolicy Never or OnFailure)
    restart_policy: str
    run_seconds: float
    exit_code: int
    quits_proxy: bool
    crashes: bool = False  # they exit each time they start, whatever the restart policy

    @classmethod
    def of(cls, pod: Obj) -> Plan:
        notes = pod["metadata"].get("annotations") or {}
        policy = str(pod["spec"].get("restartPolicy", "Always"))
        crashes = _true(notes.get(CRASH_LOOP))
        return cls(policy != "Always", policy,
                   _number(notes.get(RUN_SECONDS), 0.0 if crashes else DEFAULT_RUN_SECONDS),
                   int(_number(notes.get(EXIT_CODE), 1 if crashes else 0)),
                   _true(notes.get(QUITS_PROXY)), crashes)

    @property
    def ends(self) -> bool:
        """Whether the app containers ever end by themselves."""
        return self.finite or self.crashes

    def restarts(self) -> bool:
        """Whether the kubelet starts an ended app container again."""
        return self.restart_policy == "Always" or (
            self.restart_policy == "OnFailure" and self.exit_code != 0)


def _true(text: object) -> bool:
    return str(text or "").lower() == "true"


def _number(text: object, default: float) -> float:
    try:
        return float(str(text)) if text is not None else default
    except ValueError:
        return default


def is_sidecar(container: Obj) -> bool:
    """A restartable init container (KEP-753): started before the apps, kept running."""
    return container.get("restartPolicy") == "Always"


def crash_backoff(restarts: int) -> float:
    """The kubelet's restart back-off: 10s doubling per restart, capped at five minutes."""
    return float(min(10 * 2 ** max(restarts - 1, 0), 300))


def blocks_start(container: Obj, mode: str) -> bool:
    """A faulty istio-proxy sidecar with a startupProbe never counts as started, and the
    kubelet starts no later container until it does."""
    return container["name"] == PROXY and mode != "ready" and "startupProbe" in container


@dataclass(frozen=True)
class Step:
    """An app container of a run-to-completion pod at one moment. `kind` is `done` (it ended
    earlier), `backoff` (failed under OnFailure, restarts at `until`), `running` (until
    `until`), `exited` (ended at `until`, for good) or `failed` (ended at `until`, to be
    restarted)."""

    kind: str
    started: float
    until: float
    prev: Obj


def app_step(old: Obj | None, plan: Plan, now: float) -> Step:
    """The next state of an app container, from its last reported status."""
    prev = old or {}
    state = prev.get("state") or {}
    if "terminated" in state:
        ended = state["terminated"]
        return Step("done", _at(ended.get("startedAt"), now), _at(ended.get("finishedAt"), now),
                    prev)
    started = now
    if "running" in state:
        started = _at(state["running"].get("startedAt"), now)
    elif (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
        last = (prev.get("lastState") or {}).get("terminated") or {}
        restart_at = _at(last.get("finishedAt"), now) + crash_backoff(
            int(prev.get("restartCount", 0)))
        if now < restart_at:
            return Step("backoff", now, restart_at, prev)
    end = started + plan.run_seconds
    if now < end:
        return Step("running", started, end, prev)
    return Step("failed" if plan.restarts() else "exited", started, end, prev)


def _at(stamp: object, default: float) -> float:
    return seconds(str(stamp)) if stamp else default
