"""The gate of a monitor: a pure function of a windowed audit and a policy. The policy's rules judge the windows
its ``[monitor] scope`` names (the last window, or every window with enough rows), and its drift alerts in that
scope must number at most ``max_drift``. Nothing passes unjudged: a scope without a tested alert, or whose rules
judge nothing, blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .policy import Policy
from .verdicts import GateResult, evaluate


@dataclass(frozen=True)
class MonitorGateResult:
    """The verdict of a monitor: per judged window its rules' GateResult, and the drift check."""

    passed: bool
    scope: str
    max_drift: int
    windows: tuple[tuple[str, GateResult], ...]
    drift: tuple[dict[str, Any], ...]  # the drift alerts in scope
    drift_verdict: str  # pass | fail | insufficient data
    tested: int  # alerts tested in scope
    policy_source: str = "<policy>"
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "policy": self.policy_source, "scope": self.scope,
                "max_drift": self.max_drift, "drift_verdict": self.drift_verdict, "alerts_tested": self.tested,
                "drift": [dict(a) for a in self.drift], "notes": list(self.notes),
                "windows": [{"window_start": start, **g.to_dict()} for start, g in self.windows]}


def evaluate_windows(windowed: Any, policy: Policy) -> MonitorGateResult:
    """Judge a :class:`audit.WindowedAudit` against ``policy`` (pure: no I/O).

    ``[monitor] scope = "last_window"`` judges the latest window (whatever its size: a window too small to judge
    blocks); ``"any_window"`` judges every window with enough rows and fails when any fails. ``max_drift`` is the
    number of drift alerts tolerated in scope (default 0)."""
    spans = list(windowed.spans)
    notes: list[str] = []
    if policy.monitor_scope == "last_window":
        judged = spans[-1:]
    else:
        judged = [w for w in spans if w.status == "ok"]
        skipped = [w.start for w in spans if w.status != "ok"]
        if skipped:
            notes.append(f"{len(skipped)} window(s) with too few rows or none were not judged: "
                         f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")
    results = tuple((w.start, evaluate(w.result, policy)) for w in judged) if policy.rules else ()
    starts = {w.start for w in judged}
    in_scope = [a for a in windowed.alert_records() if a["window_start"] in starts]
    drift = tuple(a for a in in_scope if a["verdict"] == "drift")
    tested = sum(1 for a in in_scope if a["verdict"] in ("drift", "no drift"))
    if tested == 0:
        drift_verdict = "insufficient data"
        notes.append("no drift alert could be tested in the judged window(s) (too few rows, or no reference window "
                     "before them), so the drift check cannot pass")
    else:
        drift_verdict = "fail" if len(drift) > policy.max_drift else "pass"
    if policy.rules and not results:
        notes.append("no window had enough rows to be judged, so the rules cannot pass")
    passed = (drift_verdict == "pass" and all(g.passed for _, g in results)
              and (bool(results) or not policy.rules))
    return MonitorGateResult(passed, policy.monitor_scope, policy.max_drift, results, drift, drift_verdict, tested,
                             policy.source, tuple(notes))
