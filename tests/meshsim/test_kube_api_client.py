"""The `kubernetes` Python client against the simulated API server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from meshsim.kube.requestinfo import RequestAttributes
from meshsim.kube.resources import by_kind
from tests.meshsim.kube_env import KubeEnv, kube_env

PODS = by_kind("Pod")


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEnv]:
    with kube_env(tmp_path_factory.mktemp("client")) as env:
        yield env


@pytest.fixture(scope="module")
def core(kube: KubeEnv) -> client.CoreV1Api:
    return client.CoreV1Api(kube.api_client())


def _names(items: list[Any]) -> list[str]:
    return sorted(item.metadata.name for item in items)


def test_label_selectors_follow_absent_key_rules(kube: KubeEnv, core: client.CoreV1Api) -> None:
    kube.namespace("sel", {"istio.io/rev": "asm-1-22"})
    kube.namespace("sel-plain")
    kube.pod("sel", "injected", {"sidecar.istio.io/inject": "true"})
    kube.pod("sel", "opted-out", {"sidecar.istio.io/inject": "false"})
    kube.pod("sel", "unlabelled")
    listed = core.list_namespaced_pod("sel", label_selector="sidecar.istio.io/inject!=false")
    assert _names(listed.items) == ["injected", "unlabelled"]
    listed = core.list_namespaced_pod("sel", label_selector="!sidecar.istio.io/inject")
    assert _names(listed.items) == ["unlabelled"]
    namespaces = core.list_namespace(label_selector="istio.io/rev notin (asm-1-23)")
    assert {"sel", "sel-plain"} <= set(_names(namespaces.items))
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod("sel", label_selector="a in (b")
    assert bad.value.status == 400


def test_pagination_with_limit_and_continue(kube: KubeEnv, core: client.CoreV1Api) -> None:
    kube.namespace("pages")
    for i in range(25):
        kube.pod("pages", f"p-{i:02d}")
    first = core.list_namespaced_pod("pages", limit=10)
    assert len(first.items) == 10 and first.metadata.remaining_item_count == 15
    seen = _names(first.items)
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_pod("pages", limit=10, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        seen += _names(page.items)
        token = page.metadata._continue
    assert seen == [f"p-{i:02d}" for i in range(25)]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod("pages", limit=10, _continue="not-a-token")
    assert bad.value.status == 400


def test_replace_with_stale_resource_version_is_409(kube: KubeEnv,
                                                    core: client.CoreV1Api) -> None:
    kube.namespace("conflict")
    kube.pod("conflict", "p")
    stale = core.read_namespaced_pod("p", "conflict")
    fresh = core.read_namespaced_pod("p", "conflict")
    fresh.metadata.labels = {"winner": "first"}
    core.replace_namespaced_pod("p", "conflict", fresh)
    stale.metadata.labels = {"winner": "second"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_pod("p", "conflict", stale)
    assert conflict.value.status == 409
    assert '"reason":"Conflict"' in conflict.value.body.replace(" ", "")
    assert kube.store.get(PODS, "conflict", "p")["metadata"]["labels"] == {"winner": "first"}


def test_create_existing_is_409_already_exists(kube: KubeEnv, core: client.CoreV1Api) -> None:
    kube.namespace("exists")
    body = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    created = core.create_namespaced_pod("exists", body)
    assert created.metadata.uid
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_pod("exists", body)
    assert exists.value.status == 409 and "AlreadyExists" in exists.value.body
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_pod("no-such-namespace", body)
    assert missing.value.status == 404


def test_watch_streams_added_modified_deleted(kube: KubeEnv, core: client.CoreV1Api) -> None:
    kube.namespace("watched")
    kube.pod("watched", "existing")
    events: list[tuple[str, str]] = []
    ready = threading.Event()

    def writer() -> None:
        ready.wait(5)
        kube.pod("watched", "new")
        obj = kube.store.get(PODS, "watched", "new")
        kube.store.update(PODS, {**obj, "metadata": {**obj["metadata"], "labels": {"v": "2"}}})
        kube.store.delete(PODS, "watched", "new")

    thread = threading.Thread(target=writer)
    thread.start()
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_pod, "watched", timeout_seconds=10):
        events.append((event["type"], event["object"].metadata.name))
        ready.set()
        if event["type"] == "DELETED":
            stream.stop()
    thread.join()
    assert events == [("ADDED", "existing"), ("ADDED", "new"), ("MODIFIED", "new"),
                      ("DELETED", "new")]


def test_watch_from_resource_version_replays_history(kube: KubeEnv,
                                                     core: client.CoreV1Api) -> None:
    kube.namespace("replay")
    listed = core.list_namespaced_pod("replay")
    kube.pod("replay", "later")
    stream = watch.Watch()
    events = []
    for event in stream.stream(core.list_namespaced_pod, "replay", timeout_seconds=5,
                               resource_version=listed.metadata.resource_version):
        events.append((event["type"], event["object"].metadata.name))
        stream.stop()
    assert events == [("ADDED", "later")]


def test_watch_from_expired_resource_version_fails_with_410(tmp_path: Path) -> None:
    with kube_env(tmp_path, history=5) as small:
        small.namespace("old")
        for i in range(10):
            small.pod("old", f"p{i}")
        core = client.CoreV1Api(small.api_client())
        with pytest.raises(ApiException) as expired:
            for _ in watch.Watch().stream(core.list_namespaced_pod, "old", resource_version="2",
                                          timeout_seconds=5):
                pass
        assert expired.value.status == 410
        assert "Expired" in str(expired.value.reason)


def test_access_review_asks_the_authorizer(tmp_path: Path) -> None:
    asked: list[RequestAttributes] = []

    def authorizer(attrs: RequestAttributes) -> bool:
        asked.append(attrs)
        return attrs.verb != "delete"

    with kube_env(tmp_path, authorizer=authorizer) as env:
        env.namespace("rbac")
        auth = client.AuthorizationV1Api(env.api_client())
        review = {"spec": {"resourceAttributes": {"verb": "patch", "group": "apps",
                                                  "resource": "deployments", "namespace": "rbac"}}}
        assert auth.create_self_subject_access_review(review).status.allowed is True
        review["spec"]["resourceAttributes"]["verb"] = "delete"
        assert auth.create_self_subject_access_review(review).status.allowed is False
        with pytest.raises(ApiException) as forbidden:
            client.CoreV1Api(env.api_client()).delete_namespace("rbac")
        assert forbidden.value.status == 403
        assert RequestAttributes("patch", "apps", "", "deployments", namespace="rbac") in asked


def test_access_review_allows_by_default(kube: KubeEnv) -> None:
    auth = client.AuthorizationV1Api(kube.api_client())
    review = {"spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}}}
    assert auth.create_self_subject_access_review(review).status.allowed is True
    assert kube.store.list(by_kind("SelfSubjectAccessReview")) == []


def test_apps_client_patch_is_strategic_and_returns_object(kube: KubeEnv) -> None:
    kube.namespace("apps")
    kube.deployment("apps", "web")
    apps = client.AppsV1Api(kube.api_client())
    body = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2024-06-01T10:00:00Z"}}}}}
    patched = apps.patch_namespaced_deployment("web", "apps", body)
    assert patched.metadata.generation == 2
    assert patched.spec.template.metadata.annotations == {
        "kubectl.kubernetes.io/restartedAt": "2024-06-01T10:00:00Z"}
    again = apps.patch_namespaced_deployment("web", "apps", body)
    assert again.metadata.resource_version == patched.metadata.resource_version
    status = {"status": {"observedGeneration": 2, "replicas": 2}}
    after = apps.patch_namespaced_deployment_status("web", "apps", status)
    assert after.status.observed_generation == 2 and after.metadata.generation == 2
    records = kube.log.records(resource="deployments", namespace="apps")
    assert [(r.verb, r.subresource, r.code) for r in records] == [
        ("patch", "", 200), ("patch", "", 200), ("patch", "status", 200)]
    assert records[0].user_agent.startswith("OpenAPI-Generator")
