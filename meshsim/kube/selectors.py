"""Label and field selectors with the API server's semantics.

String grammar (list calls): `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`,
comma = AND. As in apimachinery's `Requirement.Matches`, `!=` and `notin` match when the key is
absent. The structured LabelSelector (webhooks) ANDs matchLabels and matchExpressions; an empty
or missing selector matches everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Labels = Mapping[str, str]


class SelectorError(ValueError):
    """A selector string the API server would refuse (HTTP 400)."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # in, notin, exists, !exists
    values: frozenset[str] = frozenset()

    def matches(self, labels: Labels) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


LabelSelector = tuple[Requirement, ...]

_TERM = re.compile(
    r"""\s*(?:
        (?P<not>!)\s*(?P<nkey>[\w./-]+)
      | (?P<skey>[\w./-]+)\s+(?P<setop>in|notin)\s*\((?P<set>[^)]*)\)
      | (?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<val>[\w./-]*))?
    )\s*(?:,|$)""",
    re.VERBOSE,
)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query string; raises SelectorError on bad syntax."""
    if not text or not text.strip():
        return ()
    reqs: list[Requirement] = []
    pos = 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if not m or m.end() == pos:
            raise SelectorError(f"unable to parse requirement: {text[pos:]!r}")
        reqs.append(_requirement(m))
        pos = m.end()
    return tuple(reqs)


def _requirement(m: re.Match[str]) -> Requirement:
    if m["not"]:
        return Requirement(m["nkey"], "!exists")
    if m["skey"]:
        values = frozenset(v.strip() for v in m["set"].split(",") if v.strip())
        return Requirement(m["skey"], m["setop"], values)
    if m["op"] is None:
        return Requirement(m["key"], "exists")
    op = "notin" if m["op"] == "!=" else "in"
    return Requirement(m["key"], op, frozenset({m["val"]}))


def matches(selector: LabelSelector, labels: Labels | None) -> bool:
    labels = labels or {}
    return all(req.matches(labels) for req in selector)


_STRUCTURED_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}


def from_structured(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector (matchLabels + matchExpressions) as requirements."""
    if not selector:
        return ()
    match_labels = selector.get("matchLabels") or {}
    reqs = [Requirement(k, "in", frozenset({v})) for k, v in match_labels.items()]
    for expr in selector.get("matchExpressions") or []:
        op = _STRUCTURED_OPS.get(expr.get("operator", ""))
        if op is None:
            raise SelectorError(f"{expr.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(expr["key"], op, frozenset(expr.get("values") or ())))
    return tuple(reqs)


def structured_matches(selector: Mapping[str, Any] | None, labels: Labels | None) -> bool:
    return matches(from_structured(selector), labels)


FieldGetter = Callable[[Mapping[str, Any]], str]

FIELD_GETTERS: dict[str, FieldGetter] = {
    "metadata.name": lambda o: str(o.get("metadata", {}).get("name", "")),
    "metadata.namespace": lambda o: str(o.get("metadata", {}).get("namespace", "")),
    "status.phase": lambda o: str(o.get("status", {}).get("phase", "")),
    "spec.nodeName": lambda o: str(o.get("spec", {}).get("nodeName", "")),
}


FieldSelector = tuple[tuple[str, str, str], ...]


def parse_field_selector(text: str | None) -> FieldSelector:
    """`metadata.name=x,status.phase!=Running`; unknown fields are refused as the server does."""
    if not text or not text.strip():
        return ()
    terms = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*([\w.]+)\s*(==|!=|=)\s*([^\s]*)\s*", part)
        if not m:
            raise SelectorError(f"invalid field selector: {part!r}")
        field, op, value = m.groups()
        if field not in FIELD_GETTERS:
            raise SelectorError(f'field label not supported: "{field}"')
        terms.append((field, "!=" if op == "!=" else "=", value))
    return tuple(terms)


def field_matches(selector: FieldSelector, obj: Mapping[str, Any]) -> bool:
    for field, op, value in selector:
        actual = FIELD_GETTERS[field](obj)
        if (actual == value) != (op == "="):
            return False
    return True
