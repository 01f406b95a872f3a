"""The fault suite's tally (tests/e2e/test_fault_suite.py) at the end of the terminal summary,
also when xdist workers ran the scenarios: they write it under the session's base temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

TALLY = "fault-suite-tally.txt"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    tally = Path(factory.getbasetemp()) / TALLY
    if tally.exists():
        terminalreporter.write_line(tally.read_text().strip())
