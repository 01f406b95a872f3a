"""The patch formats' semantics (RFC 7386, strategic merge, RFC 6902) on plain dicts."""

from __future__ import annotations

import copy

import pytest

from meshsim.kube.patch import PatchError, json_patch, merge_patch, strategic_merge_patch

POD = {"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
       "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 80}],
                                "env": [{"name": "X", "value": "1"}]},
                               {"name": "istio-proxy", "image": "proxy:1"}],
                "volumes": [{"name": "v1"}], "tolerations": [{"key": "t"}]}}


def test_merge_patch_null_deletes_and_lists_are_replaced() -> None:
    before = copy.deepcopy(POD)
    out = merge_patch(POD, {"metadata": {"labels": {"a": None, "c": "3"}},
                            "spec": {"volumes": [{"name": "v2"}]}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert out["spec"]["volumes"] == [{"name": "v2"}]
    assert before == POD  # input untouched


def test_strategic_merge_merges_containers_by_name_and_ports_by_container_port() -> None:
    out = strategic_merge_patch(POD, {"spec": {"containers": [
        {"name": "istio-proxy", "image": "proxy:2"},
        {"name": "app", "ports": [{"containerPort": 8080}], "env": [{"name": "Y", "value": "2"}]},
        {"name": "new", "image": "n:1"}]}})
    containers = {c["name"]: c for c in out["spec"]["containers"]}
    assert list(containers) == ["app", "istio-proxy", "new"]
    assert containers["istio-proxy"]["image"] == "proxy:2"
    assert containers["app"]["image"] == "app:1"
    assert [p["containerPort"] for p in containers["app"]["ports"]] == [80, 8080]
    assert [e["name"] for e in containers["app"]["env"]] == ["X", "Y"]


def test_strategic_merge_directives_delete_replace_and_are_dropped() -> None:
    out = strategic_merge_patch(POD, {
        "$setElementOrder/containers": [{"name": "app"}],
        "spec": {"containers": [{"name": "istio-proxy", "$patch": "delete"}],
                 "tolerations": [{"key": "u"}],
                 "volumes": [{"$patch": "replace"}, {"name": "only"}],
                 "securityContext": {"$patch": "replace", "runAsUser": 1}},
        "metadata": {"labels": {"$patch": "replace", "only": "this"}}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["app"]
    assert out["spec"]["tolerations"] == [{"key": "u"}]  # no merge key: replaced
    assert out["spec"]["volumes"] == [{"name": "only"}]
    assert out["metadata"]["labels"] == {"only": "this"}
    assert out["spec"]["securityContext"] == {"runAsUser": 1}
    assert "$setElementOrder/containers" not in out


def test_strategic_merge_finalizers_union_and_delete_from_primitive_list() -> None:
    obj = {"metadata": {"finalizers": ["a", "b"]}}
    assert strategic_merge_patch(obj, {"metadata": {"finalizers": ["c"]}})["metadata"] == {
        "finalizers": ["a", "b", "c"]}
    out = strategic_merge_patch(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == ["b"]


def test_json_patch_applies_each_operation_and_leaves_the_input_alone() -> None:
    out = json_patch(POD, [
        {"op": "add", "path": "/metadata/labels/x~1y", "value": "z"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "app:2"},
        {"op": "add", "path": "/spec/volumes/-", "value": {"name": "v9"}},
        {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/copied"},
        {"op": "move", "from": "/metadata/labels/b", "path": "/metadata/labels/moved"},
        {"op": "remove", "path": "/spec/tolerations"},
        {"op": "test", "path": "/metadata/name", "value": "p"}])
    assert out["metadata"]["labels"] == {"a": "1", "x/y": "z", "copied": "1", "moved": "2"}
    assert out["spec"]["containers"][0]["image"] == "app:2"
    assert out["spec"]["volumes"][-1] == {"name": "v9"}
    assert "tolerations" not in out["spec"]
    assert POD["spec"]["containers"][0]["image"] == "app:1"


@pytest.mark.parametrize(("ops", "code"), [
    ([{"op": "replace", "path": "/nope/x", "value": 1}], 422),
    ([{"op": "test", "path": "/metadata/name", "value": "q"}], 422),
    ([{"op": "frobnicate", "path": "/x"}], 400),
    ({"op": "add"}, 400),
])
def test_json_patch_bad_path_or_failed_test_is_422_malformed_op_400(ops: object,
                                                                   code: int) -> None:
    with pytest.raises(PatchError) as error:
        json_patch(POD, ops)
    assert error.value.code == code
