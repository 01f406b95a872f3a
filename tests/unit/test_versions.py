"""Revision names sort as versions, and bad names say what a revision looks like."""

from __future__ import annotations

import pytest

from bot.upgrade.errors import GiveUp
from bot.upgrade.versions import InvalidRevision, Revision, highest, lowest, sort_revisions


def test_revisions_sort_as_versions_not_as_strings() -> None:
    ordered = sort_revisions(["asm-1-10", "asm-1-9", "asm-2-0", "asm-1-22"])
    assert [r.name for r in ordered] == ["asm-1-9", "asm-1-10", "asm-1-22", "asm-2-0"]


def test_lowest_and_highest_pick_by_version() -> None:
    assert lowest(["asm-1-10", "asm-1-9"]) == Revision(1, 9)
    assert highest(["asm-1-10", "asm-1-9"]) == Revision(1, 10)


def test_parse_round_trips_the_name() -> None:
    rev = Revision.parse(" asm-1-23 ")
    assert (rev.major, rev.minor, str(rev)) == (1, 23, "asm-1-23")


def test_parsed_and_given_revisions_mix() -> None:
    assert sort_revisions([Revision(1, 23), "asm-1-22"]) == [Revision(1, 22), Revision(1, 23)]


@pytest.mark.parametrize("text", ["1.22", "asm-1", "asm-1-22-1", "ASM-1-22", "asm-01-22", ""])
def test_bad_names_are_refused_with_what_a_revision_looks_like(text: str) -> None:
    with pytest.raises(InvalidRevision) as caught:
        Revision.parse(text)
    assert f"'{text}' is not an Istio add-on revision" in caught.value.message
    assert "asm-1-22" in caught.value.hint


def test_an_empty_revision_list_is_a_give_up_error() -> None:
    with pytest.raises(GiveUp, match="no revision"):
        highest([])
