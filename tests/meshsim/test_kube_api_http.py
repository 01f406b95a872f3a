"""The API server's wire behaviour: discovery, OpenAPI, Status errors, watch, request log."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from meshsim.kube.resources import RESOURCE_TYPES, by_kind
from tests.meshsim.kube_env import KubeEnv, kube_env

AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
              "application/json")
PODS = by_kind("Pod")


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEnv]:
    with kube_env(tmp_path_factory.mktemp("http")) as env:
        env.namespace("default")
        yield env


def test_version_health_and_legacy_discovery(kube: KubeEnv) -> None:
    assert kube.http("GET", "/version")[1]["gitVersion"].startswith("v1.30.")
    assert [kube.http("GET", p)[1] for p in ("/healthz", "/readyz", "/livez")] == ["ok"] * 3
    code, api = kube.http("GET", "/api", headers={"Accept": AGGREGATED})
    assert code == 200 and api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    groups = kube.http("GET", "/apis", headers={"Accept": AGGREGATED})[1]
    assert groups["kind"] == "APIGroupList"
    assert {g["name"] for g in groups["groups"]} >= {"apps", "autoscaling", "coordination.k8s.io"}
    apps = kube.http("GET", "/apis/apps/v1")[1]
    deployments = next(r for r in apps["resources"] if r["name"] == "deployments")
    assert deployments["shortNames"] == ["deploy"] and "watch" in deployments["verbs"]
    assert "deployments/status" in {r["name"] for r in apps["resources"]}
    assert kube.http("GET", "/apis/apps/v2")[0] == 404


def test_openapi_v3_index_points_at_documents_with_gvk(kube: KubeEnv) -> None:
    index = kube.http("GET", "/openapi/v3")[1]
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    document = kube.http("GET", url)[1]
    gvks = [gvk for schema in document["components"]["schemas"].values()
            for gvk in schema["x-kubernetes-group-version-kind"]]
    assert {"group": "apps", "version": "v1", "kind": "Deployment"} in gvks
    assert len(index["paths"]) == len({(rt.group, rt.version) for rt in RESOURCE_TYPES})


@pytest.mark.parametrize(("method", "path", "body", "code", "reason"), [
    ("GET", "/api/v1/namespaces/default/pods/missing", None, 404, "NotFound"),
    ("GET", "/api/v1/namespaces/default/widgets", None, 404, "NotFound"),
    ("POST", "/api/v1/namespaces/default/pods/x", {}, 405, "MethodNotAllowed"),
    ("PUT", "/api/v1/namespaces/default/pods", {}, 405, "MethodNotAllowed"),
    ("POST", "/api/v1/namespaces/default/pods", {"metadata": {"name": "x", "namespace": "other"}},
     400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/pods", {"metadata": {"name": "Bad_Name"}}, 422,
     "Invalid"),
    ("POST", "/api/v1/namespaces/default/pods", {"metadata": {}}, 422, "Invalid"),
    ("POST", "/api/v1/namespaces/default/pods", b"{not json", 400, "BadRequest"),
    ("GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx", None, 400, "BadRequest"),
])
def test_errors_are_status_objects(kube: KubeEnv, method: str, path: str, body: Any, code: int,
                                   reason: str) -> None:
    status, answer = kube.http(method, path, body)
    assert (status, answer["kind"], answer["code"], answer["reason"]) == (
        code, "Status", code, reason)


def test_update_with_other_name_than_url_is_refused(kube: KubeEnv) -> None:
    kube.pod("default", "renamed")
    body = {**kube.store.get(PODS, "default", "renamed")}
    body["metadata"] = {**body["metadata"], "name": "other"}
    status, answer = kube.http("PUT", "/api/v1/namespaces/default/pods/renamed", body)
    assert status == 400 and "does not match the name on the URL" in answer["message"]


def test_unknown_patch_type_is_415(kube: KubeEnv) -> None:
    kube.pod("default", "p415")
    status, answer = kube.http("PATCH", "/api/v1/namespaces/default/pods/p415", {},
                               content_type="application/xml")
    assert (status, answer["reason"]) == (415, "UnsupportedMediaType")


def test_patch_with_stale_resource_version_is_409(kube: KubeEnv) -> None:
    obj = kube.pod("default", "ppatch")
    kube.store.update(PODS, {**obj, "metadata": {**obj["metadata"], "labels": {"a": "1"}}})
    patch = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"],
                          "labels": {"a": "2"}}}
    status, answer = kube.http("PATCH", "/api/v1/namespaces/default/pods/ppatch", patch,
                               content_type="application/merge-patch+json")
    assert (status, answer["reason"]) == (409, "Conflict")


def test_json_patch_test_failure_is_422_and_changes_nothing(kube: KubeEnv) -> None:
    obj = kube.pod("default", "ptest", {"a": "1"})
    ops = [{"op": "test", "path": "/metadata/labels/a", "value": "2"},
           {"op": "remove", "path": "/metadata/labels/a"}]
    status, _ = kube.http("PATCH", "/api/v1/namespaces/default/pods/ptest", ops,
                          content_type="application/json-patch+json")
    assert status == 422
    assert kube.store.get(PODS, "default", "ptest") is obj


def test_apply_patch_creates_then_merges(kube: KubeEnv) -> None:
    path = "/api/v1/namespaces/default/configmaps/applied?fieldManager=bot&force=true"
    doc = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: '1'\n"
    status, created = kube.http("PATCH", path, doc, content_type="application/apply-patch+yaml")
    assert status == 201 and created["data"] == {"a": "1"}
    doc = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  b: '2'\n"
    status, merged = kube.http("PATCH", path, doc, content_type="application/apply-patch+yaml")
    assert status == 200 and merged["data"] == {"a": "1", "b": "2"}


def test_generate_name_and_status_subresource(kube: KubeEnv) -> None:
    body = {"metadata": {"generateName": "job-"}, "spec": {"containers": []},
            "status": {"phase": "Pending"}}
    status, created = kube.http("POST", "/api/v1/namespaces/default/pods", body)
    name = created["metadata"]["name"]
    assert status == 201 and name.startswith("job-") and len(name) > 4
    path = f"/api/v1/namespaces/default/pods/{name}/status"
    status, patched = kube.http("PATCH", path, {"status": {"phase": "Running"},
                                                "spec": {"nodeName": "ignored"}},
                                content_type="application/merge-patch+json")
    assert status == 200 and patched["status"]["phase"] == "Running"
    assert "nodeName" not in patched["spec"]
    assert kube.http("GET", path)[1]["status"]["phase"] == "Running"


def test_deletecollection_by_label(kube: KubeEnv) -> None:
    kube.namespace("sweep")
    for i in range(3):
        kube.pod("sweep", f"p{i}", {"batch": "x" if i else "y"})
    status, answer = kube.http("DELETE", "/api/v1/namespaces/sweep/pods?labelSelector=batch%3Dx")
    assert status == 200 and answer["kind"] == "PodList" and len(answer["items"]) == 2
    assert [p["metadata"]["name"] for p in kube.store.list(PODS, "sweep")] == ["p0"]


def _watch_lines(kube: KubeEnv, query: str, writes: Any, count: int) -> list[dict[str, Any]]:
    """Open a raw watch, run `writes()`, and read `count` event lines."""
    address = urlsplit(kube.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    conn.request("GET", query)
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    writes()
    events = [json.loads(response.readline()) for _ in range(count)]
    conn.close()
    return events


@pytest.mark.parametrize("replayed", [False, True], ids=["live", "replayed"])
def test_watch_with_selector_sends_deleted_when_object_stops_matching(kube: KubeEnv,
                                                                     replayed: bool) -> None:
    namespace = f"wsel-{replayed}".lower()
    kube.namespace(namespace)
    obj = kube.pod(namespace, "p", {"track": "yes"})
    kube.pod(namespace, "s", {"track": "no"})
    rv = kube.store.resource_version

    def writes() -> None:
        kube.store.update(PODS, {**obj, "metadata": {**obj["metadata"], "labels": {}}})
        kube.pod(namespace, "q", {"track": "no"})
        kube.store.delete(PODS, namespace, "s")
        kube.pod(namespace, "r", {"track": "yes"})

    if replayed:  # all changes happen before the watch starts: history decides what was known
        writes()
    events = _watch_lines(kube, f"/api/v1/namespaces/{namespace}/pods?watch=1&resourceVersion="
                                f"{rv}&labelSelector=track%3Dyes",
                          (lambda: None) if replayed else writes, 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("DELETED", "p"), ("ADDED", "r")]


def test_watch_field_selector_and_timeout_end_the_stream(kube: KubeEnv) -> None:
    kube.namespace("wtime")
    kube.pod("wtime", "a")
    kube.pod("wtime", "b")
    address = urlsplit(kube.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    started = time.monotonic()
    conn.request("GET", "/api/v1/namespaces/wtime/pods?watch=true&timeoutSeconds=1"
                        "&fieldSelector=metadata.name%3Db")
    body = conn.getresponse().read()
    lines = [json.loads(line) for line in body.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "b")]
    # Ended by the server's 1 s timeout: not at once, and before the client's own 10 s one.
    assert 0.9 < time.monotonic() - started < 9


def test_request_log_records_attributes_and_is_served(kube: KubeEnv) -> None:
    kube.namespace("logged")
    kube.http("DELETE", "/_sim/requests")
    kube.http("GET", "/api/v1/namespaces/logged/pods")
    kube.http("GET", "/apis/apps/v1/namespaces/logged/deployments/nope")
    kube.faults.add(verb="GET", path="*/configmaps", status=503)
    kube.http("GET", "/api/v1/namespaces/logged/configmaps")
    records = kube.http("GET", "/_sim/requests")[1]
    assert [(r["verb"], r["api_group"], r["resource"], r["namespace"], r["name"], r["code"])
            for r in records] == [("list", "", "pods", "logged", "", 200),
                                  ("get", "apps", "deployments", "logged", "nope", 404),
                                  ("list", "", "configmaps", "logged", "", 503)]
    assert kube.http("GET", "/_sim/requests?verb=get&code=404")[1] == [records[1]]
    kube.http("DELETE", "/_sim/requests")
    assert kube.log.records() == []


def test_dropped_connection_is_recorded_with_code_zero(kube: KubeEnv) -> None:
    kube.faults.add(verb="GET", path="/api/v1/namespaces/default/secrets-of-*", drop=True)
    kube.log.clear()
    with pytest.raises(OSError):
        kube.http("GET", "/api/v1/namespaces/default/secrets-of-nobody")
    assert [(r.resource, r.code) for r in kube.log.records()] == [("secrets-of-nobody", 0)]


def test_protobuf_only_accept_is_406_and_json_with_protobuf_is_served(kube: KubeEnv) -> None:
    only = {"Accept": "application/vnd.kubernetes.protobuf"}
    both = {"Accept": "application/vnd.kubernetes.protobuf,application/json"}
    assert kube.http("GET", "/api/v1/namespaces", headers=only)[0] == 406
    code, answer = kube.http("GET", "/api/v1/namespaces", headers=both)
    assert code == 200 and answer["kind"] == "NamespaceList"
