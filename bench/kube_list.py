"""What serving 20,000 pods in pages of 500 costs meshsim's API server.

Builds the `large` scenario in this process, then times (1) the server-side list path alone
(`lists.list_page`, as the handler calls it), cold (each pod encoded once) and warm (encoded
JSON reused), and (2) the same pages over HTTP from a plain client. The issue's bar: the server
side well under a second in total, so that census benchmarks measure the client.

    .venv/bin/python bench/kube_list.py
"""

from __future__ import annotations

import http.client
import time

import orjson

from meshsim.clock import SimClock
from meshsim.kube import scenarios
from meshsim.kube.cluster import KubeSim
from meshsim.kube.lists import list_page, parse_query
from meshsim.kube.resources import by_kind
from meshsim.runtime import SimLoop

POD = by_kind("Pod")


def continue_token(body: bytes) -> str | None:
    """Read the list's metadata only: the body starts `{"kind",...,"metadata":{...},"items"`."""
    head = body[: body.index(b',"items":[')] + b"}"
    token: str | None = orjson.loads(head)["metadata"].get("continue")
    return token


def server_side(kube: KubeSim) -> tuple[float, int, int]:
    token, pages, items, start = None, 0, 0, time.perf_counter()
    while True:
        query = parse_query({"limit": "500", **({"continue": token} if token else {})})
        body = list_page(kube.store, POD, None, query)
        pages += 1
        items += body.count(b'"kind":"Pod"')
        token = continue_token(body)
        if not token:
            return time.perf_counter() - start, pages, items


def over_http(port: int) -> tuple[float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    token, pages, start = None, 0, time.perf_counter()
    while True:
        conn.request("GET", "/api/v1/pods?limit=500" + (f"&continue={token}" if token else ""),
                     headers={"Accept": "application/json"})
        body = conn.getresponse().read()
        pages += 1
        token = continue_token(body)
        if not token:
            return time.perf_counter() - start, pages


def main() -> None:
    kube = KubeSim(SimClock(100))
    started = time.perf_counter()
    scenarios.large(kube)
    print(f"large scenario built: {len(kube.store.list(POD))} pods "
          f"in {time.perf_counter() - started:.1f} s")
    cold = server_side(kube)
    warm = server_side(kube)
    print(f"server side, cold: {cold[0] * 1000:.0f} ms for {cold[2]} pods in {cold[1]} pages")
    print(f"server side, warm: {warm[0] * 1000:.0f} ms")
    loop = SimLoop()
    port = kube.start(loop)
    for _ in range(3):
        took, pages = over_http(port)
        print(f"over HTTP, warm:   {took * 1000:.0f} ms in {pages} pages (one client connection)")
    kube.stop()
    loop.close()


if __name__ == "__main__":
    main()
