"""Real kubectl against the simulated API server: reads, selectors, writes, rollout."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from meshsim.kube.resources import by_kind
from tests.meshsim.kube_env import KubeEnv, kube_env

DEPLOYMENTS = by_kind("Deployment")


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEnv]:
    with kube_env(tmp_path_factory.mktemp("kubectl")) as env:
        env.namespace("default")
        yield env


def test_get_pods_all_namespaces_follows_continue_past_500(kube: KubeEnv) -> None:
    kube.namespace("bulk")
    for i in range(520):
        kube.pod("bulk", f"pod-{i:04d}", image=f"registry/app:{i}")
    kube.log.clear()
    out = kube.kubectl("get", "pods", "-A", "-o",
                       'jsonpath={range .items[*]}{.spec.containers[*].image}{"\\n"}{end}').stdout
    images = out.split()
    assert {f"registry/app:{i}" for i in range(520)} <= set(images)
    assert len(images) == len(kube.store.list(by_kind("Pod")))
    lists = kube.log.records(verb="list", resource="pods")
    assert len(lists) == 2
    assert all(r.code == 200 and r.user_agent.startswith("kubectl") for r in lists)
    table = kube.kubectl("get", "pods", "-n", "bulk", "--no-headers").stdout  # Table pages too
    assert len(table.splitlines()) == 520


def test_label_selectors_with_absent_keys(kube: KubeEnv) -> None:
    kube.namespace("sel")
    kube.pod("sel", "a", {"tier": "web", "canary": "yes"})
    kube.pod("sel", "b", {"tier": "db"})
    kube.pod("sel", "c", {})

    def names(selector: str) -> list[str]:
        out = kube.kubectl("get", "pods", "-n", "sel", "-l", selector, "-o", "name").stdout
        return sorted(line.removeprefix("pod/") for line in out.split())

    assert names("tier!=web") == ["b", "c"]
    assert names("tier notin (web,db)") == ["c"]
    assert names("!canary") == ["b", "c"]
    assert names("tier in (web),canary") == ["a"]


def test_field_selector_and_bad_selector_is_400(kube: KubeEnv) -> None:
    kube.namespace("fields")
    kube.pod("fields", "one")
    kube.pod("fields", "two")
    out = kube.kubectl("get", "pods", "-n", "fields", "--field-selector", "metadata.name=two",
                       "-o", "name").stdout
    assert out.split() == ["pod/two"]
    bad = kube.kubectl("get", "pods", "-n", "fields", "-l", "a in (", check=False)
    assert bad.returncode != 0 and "BadRequest" in bad.stderr


def test_output_json_and_yaml_round_trip_the_stored_object(kube: KubeEnv) -> None:
    kube.namespace("out")
    stored = kube.pod("out", "p", {"app": "x"})
    as_json = json.loads(kube.kubectl("get", "pod", "p", "-n", "out", "-o", "json").stdout)
    as_yaml = yaml.safe_load(kube.kubectl("get", "pod", "p", "-n", "out", "-o", "yaml").stdout)
    assert as_json == as_yaml == stored
    listed = json.loads(kube.kubectl("get", "pods", "-n", "out", "-o", "json").stdout)
    assert [item["metadata"]["uid"] for item in listed["items"]] == [stored["metadata"]["uid"]]


def test_label_overwrite_removal_and_annotate_namespace(kube: KubeEnv) -> None:
    kube.namespace("labels", {"istio.io/rev": "asm-1-22"})
    kube.kubectl("label", "ns", "labels", "istio.io/rev=asm-1-23", "--overwrite")
    ns = kube.store.get(by_kind("Namespace"), "", "labels")
    assert ns["metadata"]["labels"]["istio.io/rev"] == "asm-1-23"
    kube.kubectl("label", "ns", "labels", "istio.io/rev-")
    kube.kubectl("annotate", "ns", "labels", "owner=team-a")
    ns = kube.store.get(by_kind("Namespace"), "", "labels")
    assert "istio.io/rev" not in ns["metadata"]["labels"]
    assert ns["metadata"]["annotations"] == {"owner": "team-a"}
    patch = kube.log.records(verb="patch", resource="namespaces", name="labels")
    assert len(patch) == 3 and {r.code for r in patch} == {200}


def test_patch_merge_strategic_and_json(kube: KubeEnv) -> None:
    kube.namespace("patching")
    kube.deployment("patching", "web")
    kube.kubectl("patch", "deploy", "web", "-n", "patching", "--type", "merge",
                 "-p", '{"metadata":{"labels":{"team":"a"}}}')
    kube.kubectl("patch", "deploy", "web", "-n", "patching", "--type", "strategic", "-p",
                 '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"s:1"}]}}}}')
    kube.kubectl("patch", "deploy", "web", "-n", "patching", "--type", "json", "-p",
                 '[{"op":"replace","path":"/spec/replicas","value":5}]')
    obj = kube.store.get(DEPLOYMENTS, "patching", "web")
    assert obj["metadata"]["labels"]["team"] == "a"
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]  # merged by name, not replaced
    assert obj["spec"]["replicas"] == 5
    assert obj["metadata"]["generation"] == 3


def test_create_and_apply_from_yaml_files(kube: KubeEnv, tmp_path: Path) -> None:
    kube.namespace("files")
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
                        "  namespace: files\ndata:\n  level: info\n")
    assert "created" in kube.kubectl("create", "-f", str(manifest)).stdout
    manifest.write_text(manifest.read_text().replace("info", "debug"))
    assert "configured" in kube.kubectl("apply", "-f", str(manifest)).stdout
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "files"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {
            "metadata": {"labels": {"app": "api"}},
            "spec": {"containers": [{"name": "api", "image": "api:1"}]}}}}))
    assert "created" in kube.kubectl("apply", "-f", str(deploy)).stdout
    assert "serverside-applied" in kube.kubectl("apply", "--server-side", "-f", str(deploy)).stdout
    cm = kube.store.get(by_kind("ConfigMap"), "files", "settings")
    assert cm["data"] == {"level": "debug"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in cm["metadata"]["annotations"]
    assert kube.store.find(DEPLOYMENTS, "files", "api") is not None
    assert kube.log.records(path="/openapi/v3", code=200)


def test_run_creates_pod_and_delete_removes_it(kube: KubeEnv) -> None:
    kube.namespace("runs")
    kube.kubectl("run", "probe", "--image=busybox:1.36", "-n", "runs")
    pod = kube.store.get(by_kind("Pod"), "runs", "probe")
    assert pod["metadata"]["labels"] == {"run": "probe"}
    assert pod["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert kube.log.records(verb="create", resource="pods", namespace="runs")[0].code == 201
    assert 'pod "probe" deleted' in kube.kubectl("delete", "pod", "probe", "-n", "runs").stdout
    assert kube.store.find(by_kind("Pod"), "runs", "probe") is None


def test_cluster_scoped_and_other_groups_are_listed(kube: KubeEnv) -> None:
    mwc = {"metadata": {"name": "istio-revision-tag-prod-stable",
                        "labels": {"istio.io/tag": "prod-stable", "istio.io/rev": "asm-1-22"}},
           "webhooks": []}
    kube.store.create(by_kind("MutatingWebhookConfiguration"), mwc)
    kube.store.create(by_kind("MutatingWebhookConfiguration"), {"metadata": {"name": "other"}})
    kube.namespace("groups")
    kube.store.create(by_kind("HorizontalPodAutoscaler"), {"metadata": {"name": "h"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 3}}, "groups")
    kube.store.create(by_kind("Lease"), {"metadata": {"name": "bot-leader"}, "spec": {}}, "groups")
    tags = kube.kubectl("get", "mutatingwebhookconfigurations", "-l", "istio.io/tag", "-o", "name")
    assert tags.stdout.split() == ["mutatingwebhookconfiguration.admissionregistration.k8s.io/"
                                   "istio-revision-tag-prod-stable"]
    assert "h" in kube.kubectl("get", "hpa", "-n", "groups").stdout
    assert "bot-leader" in kube.kubectl("get", "leases", "-A").stdout
    assert kube.log.records(resource="horizontalpodautoscalers", api_group="autoscaling")


def test_rollout_restart_sends_strategic_patch(kube: KubeEnv) -> None:
    kube.namespace("restart")
    kube.deployment("restart", "web")
    kube.log.clear()
    out = kube.kubectl("rollout", "restart", "deployment/web", "-n", "restart").stdout
    assert "restarted" in out
    obj = kube.store.get(DEPLOYMENTS, "restart", "web")
    annotations = obj["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    assert obj["metadata"]["generation"] == 2
    assert [(r.verb, r.code) for r in kube.log.records(resource="deployments")] == [
        ("get", 200), ("patch", 200)]


def _finish_rollout(kube: KubeEnv, namespace: str, name: str) -> None:
    obj = kube.store.get(DEPLOYMENTS, namespace, name)
    replicas = obj["spec"]["replicas"]
    status = {"observedGeneration": obj["metadata"]["generation"], "replicas": replicas,
              "updatedReplicas": replicas, "readyReplicas": replicas,
              "availableReplicas": replicas}
    kube.store.update(DEPLOYMENTS, {**obj, "status": status}, status_only=True)


def test_rollout_status_of_finished_deployment(kube: KubeEnv) -> None:
    kube.namespace("done")
    kube.deployment("done", "web")
    _finish_rollout(kube, "done", "web")
    out = kube.kubectl("rollout", "status", "deployment/web", "-n", "done", "--timeout=10s")
    assert 'deployment "web" successfully rolled out' in out.stdout


def test_rollout_status_sees_status_written_from_another_thread(kube: KubeEnv) -> None:
    kube.namespace("pending")
    kube.deployment("pending", "web")
    waiting = kube.popen_kubectl("rollout", "status", "deployment/web", "-n", "pending",
                                 "--timeout=20s")
    assert waiting.stdout is not None
    first = waiting.stdout.readline()  # kubectl is now watching
    assert "Waiting" in first
    writer = threading.Thread(target=_finish_rollout, args=(kube, "pending", "web"))
    writer.start()
    writer.join()
    out, _ = waiting.communicate(timeout=20)
    assert waiting.returncode == 0
    assert 'deployment "web" successfully rolled out' in out
    assert kube.log.records(verb="watch", resource="deployments", namespace="pending")


def test_human_readable_get_prints_server_side_table_columns(kube: KubeEnv) -> None:
    kube.namespace("tables")
    kube.pod("tables", "web-1", {"app": "web"})
    kube.deployment("tables", "web", replicas=3)
    pods = kube.kubectl("get", "pods", "-n", "tables", "--show-labels").stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    assert pods[1].split()[:4] == ["web-1", "0/1", "Running", "0"]
    assert pods[1].split()[-1] == "app=web"
    deploys = kube.kubectl("get", "deploy", "-n", "tables").stdout.splitlines()
    assert deploys[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploys[1].split()[:2] == ["web", "0/3"]
