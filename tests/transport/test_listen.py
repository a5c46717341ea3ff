"""The descriptor limit fitted to what the ports may hold (transport/listen.py), without
touching this process's own limit."""

from __future__ import annotations

import logging
import resource

import pytest

from roomful_meetings.transport.listen import SPARE_DESCRIPTORS, fit_descriptor_limit


class Limits:
    """RLIMIT_NOFILE as the kernel keeps it: the soft limit may rise up to the hard one."""

    def __init__(self, soft: int, hard: int) -> None:
        self.soft, self.hard = soft, hard

    def getrlimit(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        if limits[0] > self.hard:
            raise ValueError("not allowed to raise maximum limit")
        self.soft, self.hard = limits


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Limits:
    kept = Limits(1024, 524_288)  # systemd's default
    monkeypatch.setattr(resource, "getrlimit", kept.getrlimit)  # the module listen.py uses
    monkeypatch.setattr(resource, "setrlimit", kept.setrlimit)
    return kept


def test_the_soft_limit_is_raised_to_fit_the_connections(
    limits: Limits, caplog: pytest.LogCaptureFixture
) -> None:
    assert fit_descriptor_limit(20_256) == limits.soft == 20_256 + SPARE_DESCRIPTORS
    assert limits.hard == 524_288 and "descriptor limit" not in caplog.text
    assert fit_descriptor_limit(100) == 20_256 + SPARE_DESCRIPTORS  # never lowered


def test_a_hard_limit_too_low_is_raised_to_and_warned_about(
    limits: Limits, caplog: pytest.LogCaptureFixture
) -> None:
    limits.hard = 4096
    with caplog.at_level(logging.WARNING):
        assert fit_descriptor_limit(20_256) == 4096
    assert "the descriptor limit (4096) is below what the ports may hold (20320" in caplog.text
