"""Benchmark: one bot driving a fleet run: its work per scheduler tick, for 8 and 50 clusters.

    .venv/bin/python bench/fleet.py [--ticks 48] [--interval 0.25] [--speed 50]

For each of meshsim's `fleet` (8 clusters) and `fleet50` (50) scenarios, a child process builds
the bot as tests/e2e/slack_harness.py does (SQLite in a temp dir, Socket Mode against the
simulated Slack, ARM through the tenant) and alice types `/mesh-upgrade fleet start fleet --to
asm-1-24` in #mesh-ops. The simulator runs in its own process, so the bot's CPU is its own.
The scheduler's drive job is set an hour apart (Timing.drive_every): the bench is the only
driver and calls the job itself (`handlers.jobs.drive_runs`: driver, fleet pilot, catch_up)
every `--interval` real seconds, `--ticks` times per situation:

- idle: ring 1's cluster runs are planned and wait for approval to start; nothing moves;
- moving: bob has approved both starts; the clusters install their canaries meanwhile.

Per tick: CPU of the tick itself (thread time of the bench thread, which runs the job) and SQL
statements it sends, split into ticks that ran catch_up (every 10 s) and those that did not;
over the window: the bot process's CPU (every thread, the census worker process included)
and Slack Web API calls (meshsim's record of every call, /_sim/calls), both per tick. Memory:
peak RSS of the bot process (ru_maxrss, startup included) and its RSS growth over the windows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOAK = 100.0  # simulated seconds, as the e2e harness
ALICE, BOB = "U0ALICE", "U0BOB"
CHANNEL = "C0MESHOPS"  # meshsim.slack.seed.OPS_CHANNEL, the sandbox's channel
SCENARIOS = ("fleet", "fleet50")


# ---- the simulator, in its own process, through its control API ----------------------------
class Sim:
    def __init__(self, scenario: str, speed: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meshsim", "serve", "--scenario", scenario, "--speed",
             str(speed)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("meshsim exited before printing its endpoints")
        self.described: dict[str, Any] = json.loads(line)
        self.url = self.described["slack"]["url"]

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as resp:
            return json.loads(resp.read())

    def command(self, user: str, text: str) -> Any:
        return self.control("/_sim/command", {"user": user, "channel": CHANNEL,
                                              "command": "/mesh-upgrade", "text": text})

    def click(self, user: str, ts: str, action_id: str) -> Any:
        return self.control("/_sim/click", {"user": user, "channel": CHANNEL, "ts": ts,
                                            "action_id": action_id})

    def messages(self) -> list[dict[str, Any]]:
        return list(self.control(f"/_sim/messages?channel={CHANNEL}")["messages"])

    def calls(self) -> list[dict[str, Any]]:
        return list(self.control("/_sim/calls"))

    def cpu(self) -> float:
        import psutil

        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def cluster_cards(sim: Sim, action_id: str) -> dict[str, str]:
    """Cluster -> ts of its run card, for the cards that show the button `action_id`."""
    out = {}
    for m in sim.messages():
        title = m.get("text", "") + json.dumps(m.get("blocks"), ensure_ascii=False)
        if "Mesh upgrade · " in title and f'"action_id": "{action_id}"' in title:
            cluster = title.split("Mesh upgrade · ", 1)[1].split(":", 1)[0]
            out[cluster] = m["ts"]
    return out


# ---- counting SQL statements per thread (SQLAlchemy's public event API) ---------------------
class Statements:
    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        self.by_thread: Counter[int] = Counter()
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.by_thread[threading.get_ident()] += 1

    def total(self) -> int:
        return sum(self.by_thread.values())


def process_cpu() -> float:
    """CPU seconds of this process and its children (the census worker process)."""
    import psutil

    me = psutil.Process()
    procs = [me, *me.children(recursive=True)]
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


# ---- the measured window ------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    ticks: int
    tick_ms: float  # median thread CPU of a tick without catch_up
    tick_max_ms: float
    tick_sql: float  # median statements of a tick without catch_up
    catch_ups: int
    catch_up_ms: float  # median thread CPU of a tick with catch_up (0: none ran)
    catch_up_sql: float
    process_ms: float  # the bot process's CPU per tick over the window, every thread
    sim_ms: float  # meshsim's CPU per tick (its own process), for context
    slack: float  # Web API calls per tick over the window
    slack_methods: dict[str, int]
    sql: float  # statements per tick over the window, every thread
    looks: int  # fleets advanced by the pilot during the window
    rss_growth_mb: float


def measure(bot: Any, sim: Sim, sql: Statements, ticks: int, interval: float) -> Window:
    from handlers.jobs import drive_runs

    s = bot.services
    me = threading.get_ident()
    plain: list[tuple[float, int]] = []
    caught: list[tuple[float, int]] = []
    calls0, cpu0, sim0 = len(sim.calls()), process_cpu(), sim.cpu()
    sql0, looks0, rss0 = sql.total(), s.pilot.looks, rss_mb()
    for _ in range(ticks):
        began, t0, q0 = time.monotonic(), time.thread_time(), sql.by_thread[me]
        caught_before = s._caught_up  # catch_up's last run (read only, to tell its ticks)
        drive_runs(s)
        sample = ((time.thread_time() - t0) * 1000, sql.by_thread[me] - q0)
        (caught if s._caught_up != caught_before else plain).append(sample)
        time.sleep(max(interval - (time.monotonic() - began), 0.0))
    cpu, sim_cpu = process_cpu() - cpu0, sim.cpu() - sim0
    calls = sim.calls()[calls0:]
    return Window(
        ticks, _median(plain, 0), max(ms for ms, _ in plain + caught),
        _median(plain, 1), len(caught), _median(caught, 0), _median(caught, 1),
        cpu * 1000 / ticks, sim_cpu * 1000 / ticks, len(calls) / ticks,
        dict(Counter(c["method"] for c in calls)), (sql.total() - sql0) / ticks,
        s.pilot.looks - looks0, rss_mb() - rss0)


def _median(samples: list[tuple[float, int]], i: int) -> float:
    return float(statistics.median(x[i] for x in samples)) if samples else 0.0


def tick_until(bot: Any, what: str, done: Callable[[], Any], interval: float,
               timeout: float = 60.0) -> Any:
    """Drive (as the scheduler's job would) until `done()` is truthy."""
    from handlers.jobs import drive_runs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drive_runs(bot.services)
        if value := done():
            return value
        time.sleep(interval)
    raise SystemExit(f"not within {timeout:g} s: {what}")


def settle(bot: Any, sim: Sim, interval: float, quiet: float = 2.0) -> None:
    """Tick until no Slack call was made for `quiet` seconds (cards and threads posted)."""
    last, since = -1, time.monotonic()

    def quiet_now() -> bool:
        nonlocal last, since
        n = len(sim.calls())
        if n != last:
            last, since = n, time.monotonic()
        return time.monotonic() - since >= quiet

    tick_until(bot, "Slack quiet", quiet_now, interval)


# ---- one scenario, in a child process ------------------------------------------------------
@contextmanager
def running_bot(sim: Sim, tmp: Path, speed: float) -> Iterator[Any]:
    from bot.cli.run import SlackAccess, build_bot
    from bot.cli.sandbox import sandbox_config
    from bot.config.settings import SlackMode
    from bot.runtime.services import Timing
    from meshsim.slack import seed
    from tests.sim_bot import sim_arm

    described = sim.described
    url = f"sqlite:///{tmp / 'bot.db'}"
    config = sandbox_config(described, SOAK, speed, url)
    slack = SlackAccess(seed.BOT_TOKEN, seed.APP_TOKEN, seed.SIGNING_SECRET,
                        described["slack"]["api_url"])
    # The scheduler's own drive job fires an hour from now: the bench's loop drives alone.
    # max_wait is production's: a run waiting for people is looked at again every 30 s.
    bot = build_bot(config, slack, SlackMode.SOCKET, url,
                    Timing(drive_every=3600.0, max_wait=30.0), arm=sim_arm(described))
    bot.start()
    try:
        deadline = time.monotonic() + 15
        while not sim.control("/_sim/app")["socket_connections"]:
            if time.monotonic() > deadline:
                raise SystemExit("the bot did not connect in Socket Mode")
            time.sleep(0.05)
        yield bot
    finally:
        bot.stop()


def run_scenario(scenario: str, ticks: int, interval: float, speed: float) -> dict[str, Any]:
    from meshsim.sim import FLEET_TARGET

    sql = Statements()
    sim = Sim(scenario, speed)
    try:
        with tempfile.TemporaryDirectory() as tmp, running_bot(sim, Path(tmp), speed) as bot:
            clusters = len(sim.described["clusters"])
            sim.command(ALICE, f"fleet start fleet --to {FLEET_TARGET}")
            runs = tick_until(bot, "ring 1's runs planned", bot.services.store.active_runs,
                              interval)
            cards = tick_until(bot, "ring 1's cards asking to start",
                               lambda: len(c := cluster_cards(sim, "approve-start")) >= len(runs)
                               and c, interval)
            settle(bot, sim, interval)
            idle = measure(bot, sim, sql, ticks, interval)
            for ts in cards.values():
                sim.click(BOB, ts, "approve-start")
            moving = measure(bot, sim, sql, ticks, interval)
            phases = sorted(r.phase.value for r in bot.services.store.active_runs())
    finally:
        sim.close()
    return {"scenario": scenario, "clusters": clusters, "ring1_runs": len(runs),
            "phases_after": phases, "idle": asdict(idle), "moving": asdict(moving),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ---- the parent: one child per scenario, then the table -------------------------------------
def child(scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"{scenario}: meshsim and the bot ...", flush=True)
    done = subprocess.run([sys.executable, __file__, "--child", scenario, "--ticks",
                           str(args.ticks), "--interval", str(args.interval), "--speed",
                           str(args.speed)], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    if done.returncode or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{scenario}: the child failed ({done.returncode})")
    return dict(json.loads(lines[-1]))


ROWS: tuple[tuple[str, str, str], ...] = (
    ("tick CPU, median (ms)", "tick_ms", "{:.2f}"),
    ("tick CPU, worst (ms)", "tick_max_ms", "{:.2f}"),
    ("tick SQL statements, median", "tick_sql", "{:.0f}"),
    ("catch_up ticks", "catch_ups", "{}"),
    ("catch_up tick CPU (ms)", "catch_up_ms", "{:.2f}"),
    ("catch_up tick SQL statements", "catch_up_sql", "{:.0f}"),
    ("bot process CPU per tick (ms)", "process_ms", "{:.2f}"),
    ("bot SQL statements per tick", "sql", "{:.1f}"),
    ("Slack Web API calls per tick", "slack", "{:.2f}"),
    ("fleet looks in the window", "looks", "{}"),
    ("RSS growth over the window (MB)", "rss_growth_mb", "{:.1f}"),
    ("meshsim CPU per tick (ms)", "sim_ms", "{:.2f}"),
)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    cols = [(r, w) for w in ("idle", "moving") for r in results]
    head = [f"{w} {r['clusters']}" for r, w in cols]
    print(f"\n{args.ticks} ticks per window, one every {args.interval:g} s; speed "
          f"{args.speed:g}; ring 1 runs: "
          + ", ".join(f"{r['clusters']} clusters: {r['ring1_runs']}" for r in results))
    print(f"{'':34}" + "".join(f"{h:>12}" for h in head))
    for label, key, fmt in ROWS:
        print(f"{label:34}" + "".join(f"{fmt.format(r[w][key]):>12}" for r, w in cols))
    print(f"{'peak RSS of the bot (MB)':34}"
          + "".join(f"{r['peak_rss_mb']:>12.0f}" for r, _ in cols))
    for r in results:
        for w in ("idle", "moving"):
            print(f"  {w} {r['clusters']}: Slack calls {r[w]['slack_methods'] or '{}'}")
        print(f"  {r['clusters']} clusters: runs after the moving window: {r['phases_after']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=48)
    ap.add_argument("--interval", type=float, default=0.25, help="real seconds between ticks")
    ap.add_argument("--speed", type=float, default=50.0, help="simulated seconds per second")
    ap.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_scenario(args.child, args.ticks, args.interval, args.speed)))
        return 0
    report([child(s, args) for s in SCENARIOS], args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
