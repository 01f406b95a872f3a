"""The three PATCH formats of the API server, applied to plain JSON-shaped dicts.

- merge patch (RFC 7386): maps merge, `null` deletes, lists are replaced;
- strategic merge patch: like merge patch, but lists of objects with a Kubernetes merge key
  (containers by `name`, container ports by `containerPort`, ...) merge item by item, and the
  `$patch`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...` and `$retainKeys` directives
  that kubectl's apply and rollout send are understood (order directives only stripped);
- JSON patch (RFC 6902): add, remove, replace, move, copy, test.
Inputs are never mutated; the result shares untouched subtrees with the input.
"""

from __future__ import annotations

import copy
from typing import Any

# Merge keys of the lists the API server merges item by item (patchMergeKey in the Go types).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "volumes": "name", "env": "name", "volumeMounts": "mountPath",
              "volumeDevices": "devicePath", "imagePullSecrets": "name", "webhooks": "name",
              "conditions": "type", "hostAliases": "ip", "ownerReferences": "uid",
              "topologySpreadConstraints": "topologyKey", "resourceClaims": "name"}
# Primitive lists with patchStrategy "merge": union instead of replace.
MERGED_PRIMITIVE_LISTS = {"finalizers"}


class PatchError(ValueError):
    """A patch that cannot be applied (the server answers 422), or a malformed one (400)."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge patch, for the fields of the built-in types this simulator serves."""
    if not isinstance(patch, dict):
        return patch
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif key.startswith("$"):
            continue  # $setElementOrder/..., $retainKeys: ordering and pruning hints
        elif value is None:
            result.pop(key, None)
        else:
            merged = _merge_value(key, result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_value(key: str, current: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return strategic_merge_patch(current, value)
    if isinstance(value, list) and any(_is_directive(i, "replace") for i in value):
        return [_strip(item) for item in value if not _is_directive(item, "replace")]
    if isinstance(value, list) and isinstance(current, list):
        if key in MERGED_PRIMITIVE_LISTS:
            return current + [v for v in value if v not in current]
        merge_key = _merge_key(key, value)
        if merge_key:
            return _merge_list(current, value, merge_key)
    if isinstance(value, list):
        return [_strip(item) for item in value if not _is_delete(item)]
    return value


def _merge_key(field: str, items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    if field == "ports":  # container ports merge by containerPort, service ports by port
        return "containerPort" if any("containerPort" in i for i in items) else "port"
    key = MERGE_KEYS.get(field)
    return key if key and all(key in item for item in items) else None


def _merge_list(current: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    result = list(current)
    for item in patch:
        index = next((i for i, old in enumerate(result)
                      if isinstance(old, dict) and old.get(merge_key) == item[merge_key]), None)
        if _is_delete(item):
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_strip(item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def _is_delete(item: Any) -> bool:
    return _is_directive(item, "delete")


def _is_directive(item: Any, directive: str) -> bool:
    return isinstance(item, dict) and item.get("$patch") == directive


def _strip(value: Any) -> Any:
    """A new list item or replaced value without directives in it."""
    return strategic_merge_patch({}, value) if isinstance(value, dict) else value


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch, applied to a copy of `target`."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations", 400)
    doc = copy.deepcopy(target)
    for operation in operations:
        doc = _apply_operation(doc, operation)
    return doc


def _apply_operation(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict) or "path" not in op:
        raise PatchError(f"invalid json patch operation: {op!r}", 400)
    kind, path = op.get("op"), _pointer(op["path"])
    if kind == "add":
        return _add(doc, path, copy.deepcopy(_need(op, "value")))
    if kind == "remove":
        return _remove(doc, path)[0]
    if kind == "replace":
        return _add(_remove(doc, path)[0], path, copy.deepcopy(_need(op, "value")))
    if kind in ("move", "copy"):
        source = _pointer(_need(op, "from"))
        value = copy.deepcopy(_get(doc, source))
        if kind == "move":
            doc = _remove(doc, source)[0]
        return _add(doc, path, value)
    if kind == "test":
        if _get(doc, path) != _need(op, "value"):
            raise PatchError(f"testing value {op['path']} failed")
        return doc
    raise PatchError(f"Unexpected kind: {kind}", 400)


def _need(op: dict[str, Any], field: str) -> Any:
    if field not in op:
        raise PatchError(f"json patch operation {op.get('op')!r} needs {field!r}", 400)
    return op[field]


def _pointer(text: Any) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError(f"invalid JSON pointer: {text!r}", 400)
    return [p.replace("~1", "/").replace("~0", "~") for p in text.split("/")[1:]]


def _get(doc: Any, path: list[str]) -> Any:
    for token in path:
        doc = _child(doc, token)
    return doc


def _child(doc: Any, token: str) -> Any:
    if isinstance(doc, dict) and token in doc:
        return doc[token]
    if isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
        return doc[int(token)]
    raise PatchError(f"path not found: /{token}")


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, last = _get(doc, path[:-1]), path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and _insertable(parent, last):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise PatchError(f"cannot add at /{'/'.join(path)}")
    return doc


def _insertable(items: list[Any], token: str) -> bool:
    return token == "-" or (token.isdigit() and int(token) <= len(items))


def _remove(doc: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        return None, doc
    parent, last = _get(doc, path[:-1]), path[-1]
    removed = _child(parent, last)
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
    return doc, removed
