"""`python -m meshsim serve --scenario bookinfo|fleet|large|entra [--speed X] [--only cloud|slack]
[--token-lifetime SECONDS]`.

Starts the simulated clusters, ARM, the Entra ID tenant and Slack on 127.0.0.1 (free ports) and
prints one JSON line with the endpoints, the CA file, the kubeconfig, the tenant's authority
host and the bot's client id, secret and federated token file, and the Slack tokens; runs
until interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import orjson

from meshsim.entra.tenant import DEFAULT_LIFETIME
from meshsim.sim import PARTS, SCENARIOS, MeshSim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshsim")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the simulators and print their endpoints")
    serve.add_argument("--scenario", choices=sorted(SCENARIOS), default="bookinfo")
    serve.add_argument("--speed", type=float, default=1.0,
                       help="simulated seconds per real second (default 1)")
    serve.add_argument("--workdir",
                       help="where to write the kubeconfig and CA (default: a temp dir)")
    serve.add_argument("--only", choices=sorted(PARTS),
                       help="serve only the clusters with ARM (cloud), or only Slack "
                            "(default: both; the JSON line then has only that part's keys)")
    serve.add_argument("--token-lifetime", type=float, default=DEFAULT_LIFETIME,
                       help="life of the tenant's access tokens in real seconds "
                            f"(default {DEFAULT_LIFETIME:g}, as Entra ID)")
    args = parser.parse_args(argv)
    if args.speed <= 0 or args.token_lifetime <= 0:
        parser.error("--speed and --token-lifetime must be positive")
    parts = frozenset({args.only}) if args.only else PARTS
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with MeshSim(args.scenario, args.speed, args.workdir, parts=parts,
                 token_lifetime=args.token_lifetime) as sim:
        sys.stdout.write(orjson.dumps(sim.describe()).decode() + "\n")
        sys.stdout.flush()
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
