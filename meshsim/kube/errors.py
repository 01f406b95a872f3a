"""The API server's refusals: an `APIError` is answered as a `Status` object with the real
server's code and reason. Its own module so the registry strategies, which the store calls,
can raise it without importing the store.
"""

from __future__ import annotations

from typing import Any

from meshsim.kube.resources import ResourceType

Obj = dict[str, Any]


class APIError(Exception):
    """An error the API server answers with a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> Obj:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details,
                "code": self.code}


def not_found(rt: ResourceType, name: str) -> APIError:
    return APIError(404, "NotFound", f'{rt.plural}{group_suffix(rt)} "{name}" not found',
                    {"name": name, "group": rt.group, "kind": rt.plural})


def group_suffix(rt: ResourceType) -> str:
    return f".{rt.group}" if rt.group else ""


def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> APIError:
    """422 Invalid from field errors `(reason, field, message)`, worded as apimachinery's
    NewInvalid: one error inline, several in brackets."""
    texts = [f"{field}: {message}" for _, field, message in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return APIError(422, "Invalid", f'{rt.kind}{group_suffix(rt)} "{name}" is invalid: {joined}',
                    {"name": name, "group": rt.group, "kind": rt.kind,
                     "causes": [{"reason": reason, "message": message, "field": field}
                                for reason, field, message in causes]})
