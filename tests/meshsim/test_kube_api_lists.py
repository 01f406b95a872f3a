"""Large lists: 20,000 pods served in pages of 500, each pod exactly once, in key order.

Prints the time the pages took (cold: objects encoded on first read; warm: cached JSON), as
the figure for the list-serving budget; run with `-s` to see it. Timings are not asserted.
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.meshsim.kube_env import KubeEnv, kube_env

NAMESPACES, PER_NAMESPACE, PAGE = 20, 1000, 500


def _read_all_pages(kube: KubeEnv) -> tuple[list[str], int, float]:
    address = urlsplit(kube.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    names: list[str] = []
    pages, token, started = 0, "", time.perf_counter()
    while True:
        conn.request("GET", f"/api/v1/pods?limit={PAGE}" + (f"&continue={token}" if token else ""))
        page = json.loads(conn.getresponse().read())
        pages += 1
        names += [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
        assert page["metadata"]["remainingItemCount"] == NAMESPACES * PER_NAMESPACE - len(names)
    conn.close()
    return names, pages, time.perf_counter() - started


def test_twenty_thousand_pods_in_pages_of_500(tmp_path: Path) -> None:
    with kube_env(tmp_path) as kube:
        for n in range(NAMESPACES):
            kube.namespace(f"ns-{n:02d}")
            for i in range(PER_NAMESPACE):
                kube.pod(f"ns-{n:02d}", f"w-{i:04d}", {"app": f"w{i % 50}"}, image="app:1.0")
        cold_names, pages, cold = _read_all_pages(kube)
        warm_names, _, warm = _read_all_pages(kube)
    expected = [f"ns-{n:02d}/w-{i:04d}" for n in range(NAMESPACES) for i in range(PER_NAMESPACE)]
    assert cold_names == warm_names == expected
    assert pages == NAMESPACES * PER_NAMESPACE // PAGE
    print(f"\n20,000 pods in {pages} pages of {PAGE}: cold {cold * 1000:.0f} ms, "
          f"warm {warm * 1000:.0f} ms (client JSON decoding included)")
