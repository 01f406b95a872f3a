"""Istio add-on revision names (`asm-1-22`) as comparable versions.

Complete keeps the highest revision and rollback the lowest, so order matters, and the names
must sort as versions, never as strings: asm-1-9 < asm-1-10 (azure-cli `sort_asm_revisions`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.upgrade.errors import GiveUp

# [0-9], not \d: \d also matches other scripts' digits, which no revision name has; four
# digits a part are far more than AKS will ever ship, and bound what a command may ask for.
_PATTERN = re.compile(r"asm-(0|[1-9][0-9]{0,3})-(0|[1-9][0-9]{0,3})")


class InvalidRevision(GiveUp):
    """A string that is not an add-on revision name."""

    def __init__(self, text: str) -> None:
        super().__init__(
            f"'{text}' is not an Istio add-on revision.",
            "Revisions look like asm-1-22 (see `az aks mesh get-upgrades`).",
        )
        self.text = text


@dataclass(frozen=True, order=True)
class Revision:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Revision:
        match = _PATTERN.fullmatch(text.strip())
        if match is None:
            raise InvalidRevision(text)
        return cls(int(match[1]), int(match[2]))

    @property
    def name(self) -> str:
        return f"asm-{self.major}-{self.minor}"

    def __str__(self) -> str:
        return self.name


def is_revision_name(text: str) -> bool:
    """`asm-<major>-<minor>` exactly, as a user must type it (no spaces, lowercase)."""
    return _PATTERN.fullmatch(text) is not None


def as_revision(value: Revision | str) -> Revision:
    return value if isinstance(value, Revision) else Revision.parse(value)


def sort_revisions(values: Iterable[Revision | str]) -> list[Revision]:
    """Oldest first, duplicates kept; raises InvalidRevision on the first bad name."""
    return sorted(as_revision(v) for v in values)


def lowest(values: Iterable[Revision | str]) -> Revision:
    return _ends(values)[0]


def highest(values: Iterable[Revision | str]) -> Revision:
    return _ends(values)[-1]


def _ends(values: Iterable[Revision | str]) -> list[Revision]:
    ordered = sort_revisions(values)
    if not ordered:
        raise GiveUp("The mesh lists no revision at all.",
                     "Check that the Istio add-on is enabled on the cluster.")
    return ordered
