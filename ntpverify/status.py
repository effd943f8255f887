"""Statuses, verdicts and claim results: plain data shared by every producer and the reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not-applicable"
    NOT_CHECKED = "not-checked"   # an extension of the contract: the check was not run


@dataclass
class ClaimResult:
    """One claim's outcome. ``evidence`` is JSON-ready (strings for exact and decimal numbers)."""

    id: str
    status: Status
    summary: str
    evidence: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"id": self.id, "status": self.status.value, "summary": self.summary,
                "evidence": self.evidence}


def verdict(statuses: list[Status]) -> Status:
    """fail if anything failed, inconclusive if anything is, else pass."""
    if Status.FAIL in statuses:
        return Status.FAIL
    if Status.INCONCLUSIVE in statuses:
        return Status.INCONCLUSIVE
    return Status.PASS
