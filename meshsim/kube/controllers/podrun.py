"""The kubelet's view of a started pod at one moment: every container's state (per
meshsim.kube.controllers.containers), the phase it implies (getPhase: sidecars do not count),
and the conditions, plus when the view will next change.

istio-proxy misbehaves as its revision's PodFaults say, wherever it runs: as a classic
container, or as a native sidecar, where a startupProbe that never passes keeps the app
containers from starting at all.
"""

from __future__ import annotations

import time

from meshsim.clock import SimClock
from meshsim.kube.controllers import podstatus as ps
from meshsim.kube.controllers.containers import (
    CRASHLOOP,
    NEVER_READY,
    PROXY,
    Plan,
    app_step,
    blocks_start,
    crash_backoff,
    is_sidecar,
)
from meshsim.kube.store import Obj


def _stamp(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


class _Run:
    """One observation: the pod, its plan, the fault mode of its proxy and the time."""

    def __init__(self, pod: Obj, clock: SimClock, mode: str, proxy_restarts: int) -> None:
        self.pod, self.clock, self.mode, self.proxy_restarts = pod, clock, mode, proxy_restarts
        self.plan = Plan.of(pod)
        self.now, self.stamp = clock.now(), clock.rfc3339()
        old = pod.get("status") or {}
        self.old_apps = {s["name"]: s for s in old.get("containerStatuses") or ()}
        self.old_inits = {s["name"]: s for s in old.get("initContainerStatuses") or ()}
        self.waits: list[float] = []
        self.ends: list[float] = []  # when each finished app container ended
        self.codes: list[int] = []

    def started_at(self, old: Obj | None) -> str:
        state = (old or {}).get("state") or {}
        return str(state["running"]["startedAt"]) if "running" in state else self.stamp

    # ---- app containers ----------------------------------------------------------------
    def app(self, container: Obj, blocked: bool) -> tuple[Obj, bool]:
        """The container's status and whether it has ended for good."""
        old = self.old_apps.get(container["name"])
        if blocked:
            return ps.container_status(self.pod, container,
                                       {"waiting": {"reason": "PodInitializing"}}), False
        if not self.plan.ends:
            return self._running(container, old), False
        return self._ending(container, old)

    def _running(self, container: Obj, old: Obj | None) -> Obj:
        return ps.container_status(self.pod, container, ps.running(self.started_at(old)),
                                   ready=True, started=True,
                                   restarts=int((old or {}).get("restartCount", 0)))

    def _ending(self, container: Obj, old: Obj | None) -> tuple[Obj, bool]:
        step = app_step(old, self.plan, self.now)
        restarts = int(step.prev.get("restartCount", 0))
        if step.kind == "done":
            self.ends.append(step.until)
            self.codes.append(int(step.prev["state"]["terminated"].get("exitCode", 0)))
            return dict(step.prev), True
        if step.kind in ("backoff", "running"):
            self.waits.append(step.until - self.now)
        if step.kind == "backoff":
            return dict(step.prev), False
        if step.kind == "running":
            return ps.container_status(self.pod, container, ps.running(_stamp(step.started)),
                                       ready=True, started=True, restarts=restarts), False
        code = self.plan.exit_code
        ended = ps.terminated(self.pod, container["name"], code, _stamp(step.started),
                              _stamp(step.until), restarts)
        if step.kind == "failed":  # restarted after the back-off
            backoff = crash_backoff(restarts + 1)
            self.waits.append(step.until + backoff - self.now)
            return ps.container_status(self.pod, container,
                                       ps.crash_waiting(self.pod, container["name"], backoff),
                                       restarts=restarts + 1, last=ended), False
        self.ends.append(step.until)
        self.codes.append(code)
        return ps.container_status(self.pod, container, ended, restarts=restarts), True

    # ---- long-running containers: istio-proxy and native sidecars -----------------------
    def keeps_running(self, container: Obj, old: Obj | None) -> Obj:
        if container["name"] != PROXY:
            return self._running(container, old)
        restarts = self.proxy_restarts
        if self.mode == CRASHLOOP:
            last = {"terminated": {"exitCode": 255, "reason": "Error", "startedAt": self.stamp,
                                   "finishedAt": self.stamp,
                                   "containerID": ps.container_id(self.pod, PROXY, restarts)}}
            waiting = ps.crash_waiting(self.pod, PROXY, crash_backoff(restarts))
            return ps.container_status(self.pod, container, waiting, restarts=restarts,
                                       last=last)
        # A startupProbe that never passes leaves a new container unstarted; one that passed
        # once is not run again, so a running proxy that stops being ready stays started.
        was_started = bool((old or {}).get("started")) and "running" in (
            (old or {}).get("state") or {})
        started = was_started or not (self.mode == NEVER_READY and "startupProbe" in container)
        return ps.container_status(self.pod, container, ps.running(self.started_at(old)),
                                   ready=self.mode != NEVER_READY, started=started,
                                   restarts=restarts)

    def stopped(self, container: Obj, old: Obj | None) -> Obj:
        """Stopped once the apps ended: exits 0, as pilot-agent does on SIGTERM or quit."""
        restarts = int((old or {}).get("restartCount", 0))
        state = ps.terminated(self.pod, container["name"], 0, self.started_at(old),
                              _stamp(max(self.ends)), restarts)
        return ps.container_status(self.pod, container, state, restarts=restarts)

    def init_done(self, container: Obj) -> Obj:
        start = (self.pod.get("status") or {}).get("startTime") or self.stamp
        state = ps.terminated(self.pod, container["name"], 0, start, start)
        return ps.container_status(self.pod, container, state, ready=True)


def observe(pod: Obj, clock: SimClock, mode: str, proxy_restarts: int
            ) -> tuple[Obj, float | None]:
    """The status the kubelet reports now, and the sim-seconds until it changes by itself."""
    run = _Run(pod, clock, mode, proxy_restarts)
    spec = pod["spec"]
    inits = list(spec.get("initContainers") or ())
    sidecars = [c for c in inits if is_sidecar(c)]
    blocked = not _apps_started(run.old_apps) and any(blocks_start(c, mode) for c in sidecars)
    apps: dict[str, Obj] = {}
    ended: list[bool] = []
    for c in spec.get("containers") or ():
        if c["name"] != PROXY:
            apps[c["name"]], done = run.app(c, blocked)
            ended.append(done)
        elif not run.plan.finite:
            apps[PROXY] = run.keeps_running(c, run.old_apps.get(PROXY))
    finished = run.plan.finite and not blocked and bool(ended) and all(ended)
    proxy_up = _classic_proxy(run, spec, apps, finished)
    init_statuses = [(run.stopped(c, run.old_inits.get(c["name"])) if finished
                      else run.keeps_running(c, run.old_inits.get(c["name"])))
                     if is_sidecar(c) else run.init_done(c) for c in inits]
    statuses = [apps[c["name"]] for c in spec.get("containers") or ()]
    phase = _phase(run, blocked, finished and not proxy_up)
    status = ps.base(pod, clock, phase, _conditions(run, phase, sidecars, init_statuses,
                                                    statuses))
    status["containerStatuses"] = statuses
    if inits:
        status["initContainerStatuses"] = init_statuses
    return status, min(run.waits) if run.waits else None


def _apps_started(old_apps: dict[str, Obj]) -> bool:
    return any("waiting" not in (s.get("state") or {"waiting": {}}) or s.get("lastState")
               for s in old_apps.values())


def _classic_proxy(run: _Run, spec: Obj, apps: dict[str, Obj], finished: bool) -> bool:
    """Adds a run-to-completion pod's classic istio-proxy; True while it still runs."""
    container = next((c for c in spec.get("containers") or () if c["name"] == PROXY), None)
    if container is None or not run.plan.finite:
        return False
    old = run.old_apps.get(PROXY)
    if finished and run.plan.quits_proxy:
        apps[PROXY] = run.stopped(container, old)
        return False
    apps[PROXY] = run.keeps_running(container, old)
    return True


def _phase(run: _Run, blocked: bool, finished: bool) -> str:
    if blocked:
        return "Pending"
    if finished:
        return "Succeeded" if not any(run.codes) else "Failed"
    return "Running"


def _conditions(run: _Run, phase: str, sidecars: list[Obj], inits: list[Obj],
                apps: list[Obj]) -> list[Obj]:
    start = (run.pod.get("status") or {}).get("startTime") or run.stamp
    if phase in ("Succeeded", "Failed"):  # the sandbox is gone; generate.go's terminal wording
        why = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        return [ps.cond("PodReadyToStartContainers", False, run.stamp),
                ps.cond("Initialized", True, start, why if phase == "Succeeded" else ""),
                ps.cond("Ready", False, run.stamp, why),
                ps.cond("ContainersReady", False, run.stamp, why),
                ps.cond("PodScheduled", True, start)]
    names = {c["name"] for c in sidecars}
    unready = [s["name"] for s in inits if s["name"] in names and not s["ready"]]
    unready += [s["name"] for s in apps if not s["ready"]]
    waiting = [s["name"] for s in inits if s["name"] in names and not s["started"]]
    initialized = ps.cond("Initialized", True, start) if phase != "Pending" else ps.cond(
        "Initialized", False, run.stamp, "ContainersNotInitialized",
        f"containers with incomplete status: [{' '.join(waiting)}]")
    return [ps.cond("PodReadyToStartContainers", True, start), initialized,
            ps.unready("Ready", unready, run.stamp),
            ps.unready("ContainersReady", unready, run.stamp),
            ps.cond("PodScheduled", True, start)]


def proxy_restarts(pod: Obj) -> int:
    status = pod.get("status") or {}
    for entry in [*(status.get("containerStatuses") or ()),
                  *(status.get("initContainerStatuses") or ())]:
        if entry["name"] == PROXY:
            return int(entry.get("restartCount", 0))
    return 0
