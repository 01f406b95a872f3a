"""Longest first: the whole-run tests (a browser, bots as processes) go out to the workers
before the quick ones, so two workers end together instead of one finishing a long tail."""

from __future__ import annotations

import pytest

_FIRST = ("tests/browser/", "tests/e2e/", "tests/deploy/", "tests/integration/", "tests/meshsim/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next((i for i, folder in enumerate(_FIRST) if path.startswith(folder)),
                    len(_FIRST))

    items.sort(key=rank)
