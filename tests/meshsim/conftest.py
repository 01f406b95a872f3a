"""Fixtures for the simulators' fidelity tests: each test gets its own sims on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meshsim.slack.testing import RunningSlack


@pytest.fixture
def slack() -> Iterator[RunningSlack]:
    with RunningSlack() as running:
        yield running
