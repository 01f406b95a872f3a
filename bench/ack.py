"""Benchmark: how fast `/mesh-upgrade` is acked while the bot takes a 20,000-pod census.

    .venv/bin/python bench/ack.py [--commands 50] [--rounds 3] [--idle-too] [--one-sim]

meshsim (`large` scenario) runs as two processes, the clusters with ARM and Slack, so that the
simulator building 20,000-pod census pages does not delay its own Slack side (`--one-sim`
serves both from one process, as before). The bot runs here, once in Socket Mode and once in
HTTP mode, with a thread asking the bot's census port for a census over and over, as a check
would; the bot takes censuses in its census worker process (bot/kube/census_pool.py), so the
parse does not hold this interpreter's GIL. Each round fires N slash commands at once through
the simulator's `/_sim/command`, which reports `ack_ms` (Slack's limit is 3,000 ms; the target
is p99 <= 100 ms).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.cli.run import SlackAccess, build_bot  # noqa: E402
from bot.cli.sandbox import sandbox_config  # noqa: E402
from bot.config.settings import SlackMode  # noqa: E402
from bot.runtime.bot import Bot  # noqa: E402
from bot.runtime.services import Timing  # noqa: E402
from tests.sim_bot import sim_arm  # noqa: E402

TEXTS = ("status aks-sandbox", "help", "history aks-sandbox", "strat aks-sandbox",
         "sidecars aks-sandbox --namespace ns-0001")


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def _censuses(bot: Bot, stop: threading.Event, done: list[float]) -> None:
    census = bot.services.workflow.adapters("aks-sandbox").cluster.census
    while not stop.is_set():
        started = time.perf_counter()
        taken = census.take()
        done.append(time.perf_counter() - started)
        assert taken.pods >= 20_000, taken.pods


def _round(slack_url: str, n: int, users: list[str]) -> list[float]:
    def one(i: int) -> float:
        answer = _post(f"{slack_url}/_sim/command", {
            "user": users[i % len(users)], "channel": "C0MESHOPS", "command": "/mesh-upgrade",
            "text": TEXTS[i % len(TEXTS)]})
        assert answer["acked"], answer
        return float(answer["ack_ms"])

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def measure(described: dict[str, Any], mode: SlackMode, n: int, rounds: int,
            census: bool = True) -> dict[str, Any]:
    slack = described["slack"]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bot.db'}"
        config = sandbox_config(described, 120, described["speed"], url)
        access = SlackAccess(slack["bot"], slack["app"], slack["signing_secret"], slack["api_url"])
        arm = sim_arm(described)
        bot = build_bot(config, access, mode, url, Timing(1.0, 30.0), arm=arm)
        bot.start()
        stop, censuses = threading.Event(), list[float]()
        try:
            _post(f"{slack['url']}/_sim/app", {"request_url": bot.request_url})
            time.sleep(1.0)  # the WebSocket connects
            loader = threading.Thread(target=_censuses, args=(bot, stop, censuses), daemon=True)
            if census:
                loader.start()
            while census and not censuses and loader.is_alive():  # warm the client up
                time.sleep(0.1)
            acks: list[float] = []
            for _ in range(rounds):
                acks += _round(slack["url"], n, ["U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY"])
            stop.set()
            if census:
                loader.join()
        finally:
            stop.set()
            bot.stop()
            _post(f"{slack['url']}/_sim/app", {"request_url": None})
            time.sleep(0.5)
    acks.sort()
    return {"mode": mode.value + ("" if census else " (idle)"), "commands": len(acks),
            "p50_ms": statistics.median(acks),
            "p99_ms": acks[max(int(len(acks) * 0.99) - 1, 0)], "max_ms": acks[-1],
            "censuses": len(censuses),
            "census_s": round(statistics.median(censuses), 2) if censuses else 0.0}


def _serve(speed: float, only: str | None) -> subprocess.Popen[bytes]:
    """`python -m meshsim serve` of the large scenario (only the `cloud` or `slack` part)."""
    part = ["--only", only] if only else []
    return subprocess.Popen([sys.executable, "-m", "meshsim", "serve", "--scenario", "large",
                             "--speed", str(speed), *part], cwd=ROOT, stdout=subprocess.PIPE)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    # Slack's 3 s ack timeout is counted in simulated time: keep the sim at real time.
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--idle-too", action="store_true",
                        help="also measure without the census, for comparison")
    parser.add_argument("--one-sim", action="store_true",
                        help="serve the clusters and Slack from one meshsim process (its one "
                             "event loop then builds census pages between Slack's acks)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sims = [_serve(args.speed, only) for only in ((None,) if args.one_sim else ("cloud", "slack"))]
    try:
        described: dict[str, Any] = {}
        for sim in sims:
            assert sim.stdout is not None
            described.update(json.loads(sim.stdout.readline()))
        results = [measure(described, mode, args.commands, args.rounds, census)
                   for census in (not args.idle_too, True) for mode in (SlackMode.SOCKET,
                                                                         SlackMode.HTTP)]
        results = results[2:] if not args.idle_too else results
    finally:
        for sim in sims:
            sim.terminate()
            sim.wait(10)
    print(f"{'mode':<15} {'commands':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'censuses':>8} {'census s':>8}")
    for r in results:
        print(f"{r['mode']:<15} {r['commands']:>8} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['max_ms']:>8.1f} {r['censuses']:>8} {r['census_s']:>8}")
    print("Slack's limit: 3000 ms; target p99 <= 100 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
