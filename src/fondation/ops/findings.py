"""What a check found, how bad it is, and what to try: the runbook's severity levels as data.

The monitor (and any cron job or alerting that runs it) turns the worst severity into an exit code,
so a script needs no parsing to know whether to page someone:

| Worst finding | Exit code | Runbook response |
|---|---|---|
| P1 (critical) | 2 | page on-call, < 15 min |
| P2 (high) or P3 (medium) | 1 | alert the team (< 1 h) / open a ticket (< 4 h) |
| P4 (low) or nothing | 0 | all clear; P4 findings are information for the next review |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """The runbook's levels; P1 is the worst."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        """1 for P1 … 4 for P4: lower is worse."""
        return int(self.value[1])

    @property
    def response(self) -> str:
        return _RESPONSES[self]


_RESPONSES = {
    Severity.P1: "critical: page on-call (respond within 15 min)",
    Severity.P2: "high: alert the team (respond within 1 hour)",
    Severity.P3: "medium: open a ticket (respond within 4 hours)",
    Severity.P4: "low: log for review (next business day)",
}

EXIT_ALL_CLEAR = 0
EXIT_ATTENTION = 1
EXIT_CRITICAL = 2


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing worth an operator's attention: `code` is stable (for alert routing), the rest is prose."""

    severity: Severity
    code: str
    message: str
    fix: str = ""


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first; the order of equally bad findings is kept (it follows the order of the checks)."""
    return sorted(findings, key=lambda finding: finding.severity.rank)


def worst_severity(findings: Iterable[Finding]) -> Severity | None:
    """The worst severity among the findings; None when there are none."""
    return min((finding.severity for finding in findings), key=lambda severity: severity.rank, default=None)


def exit_code_for(findings: Iterable[Finding]) -> int:
    """2 for a P1, 1 when the worst is P2 or P3, 0 when nothing is worse than P4."""
    worst = worst_severity(findings)
    if worst is Severity.P1:
        return EXIT_CRITICAL
    if worst in (Severity.P2, Severity.P3):
        return EXIT_ATTENTION
    return EXIT_ALL_CLEAR
