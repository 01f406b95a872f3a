"""A simulated Kubernetes API server on a free port, with real kubectl and real clients at it.

Shared by the `test_kube_api_*` modules. Objects are seeded through the Store's Python API (no
Istio behaviour is involved); kubectl gets its own kubeconfig and discovery cache directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from meshsim.clock import SimClock
from meshsim.faults import Faults
from meshsim.kube.requestinfo import Authorizer, RequestLog
from meshsim.kube.resources import by_kind
from meshsim.kube.server import make_app
from meshsim.kube.store import Obj, Store
from meshsim.runtime import SimLoop

KUBECTL = "/usr/bin/kubectl"


@dataclass
class KubeEnv:
    store: Store
    faults: Faults
    log: RequestLog
    url: str
    kubeconfig: Path
    cache_dir: Path

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                timeout: float = 30) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        done = subprocess.run([KUBECTL, "--cache-dir", str(self.cache_dir), *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done

    def popen_kubectl(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.Popen([KUBECTL, "--cache-dir", str(self.cache_dir), *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def api_client(self) -> client.ApiClient:
        config = client.Configuration()
        config.host = self.url
        config.api_key = {"authorization": "Bearer meshsim-test-token"}
        return client.ApiClient(config)

    def http(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """A raw request; returns the status and the decoded JSON (or text) answer."""
        data = None if body is None else (body if isinstance(body, bytes) else
                                          json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": content_type, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read())

    # ---- seeding through the Store's Python API -------------------------------------------
    def namespace(self, name: str, labels: dict[str, str] | None = None) -> Obj:
        return self.store.create(by_kind("Namespace"),
                                 {"metadata": {"name": name, "labels": labels or {}}})

    def pod(self, namespace: str, name: str, labels: dict[str, str] | None = None,
            image: str = "nginx:1.25") -> Obj:
        body = {"metadata": {"name": name, "labels": labels or {}},
                "spec": {"containers": [{"name": "app", "image": image}]},
                "status": {"phase": "Running"}}
        return self.store.create(by_kind("Pod"), body, namespace)

    def deployment(self, namespace: str, name: str, replicas: int = 2) -> Obj:
        labels = {"app": name}
        body = {"metadata": {"name": name, "labels": labels},
                "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
                "status": {}}
        return self.store.create(by_kind("Deployment"), body, namespace)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


@contextmanager
def kube_env(tmp_path: Path, history: int = 200_000,
             authorizer: Authorizer | None = None) -> Iterator[KubeEnv]:
    store = Store(SimClock(), history=history)
    faults, log, sim = Faults(), RequestLog(), SimLoop()
    try:
        port = sim.serve(make_app(store, faults, log, authorizer=authorizer))
        url = f"http://127.0.0.1:{port}"
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(_kubeconfig(url))
        yield KubeEnv(store, faults, log, url, kubeconfig, tmp_path / "kube-cache")
    finally:
        sim.close()


def _kubeconfig(url: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sim",
        "clusters": [{"name": "sim", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "meshsim-test-token"}}],
        "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "tester",
                                                 "namespace": "default"}}]})
