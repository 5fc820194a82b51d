"""Fairness over time: every window of a running model audited from one pass over the rows (the core's control
axis), and each window's disparities tested against a reference window with false alarms controlled.

    windowed = audit.audit_windows(model, decisions, time="decided_at", every="7D", label="repaid",
                                   protected=["sex"], reference="first")
    windowed.trend      # window_start, window_end, attribute, group, metric, value, ci_low, ci_high, n, status
    windowed.alerts     # window_start, attribute, group, metric, reference_value, value, change, ..., verdict
    windowed.windows    # one AuditResult per window

A window's numbers equal an audit of its rows alone (the same statistics, their own bootstrap streams, p-values
corrected within the window). Alerts: :mod:`audit.monitor.alerts`. A daily job adds rows without rescanning the
history with :class:`WindowAccumulator` (:mod:`audit.monitor.state`).
"""

from __future__ import annotations

from .alerts import ALERT_COLUMNS
from .batch import audit_windows
from .common import ALERT_METRICS
from .result import TREND_COLUMNS, WINDOW_COLUMNS, WindowedAudit
from .state import WindowAccumulator

__all__ = ["audit_windows", "WindowedAudit", "WindowAccumulator", "ALERT_METRICS", "ALERT_COLUMNS",
           "TREND_COLUMNS", "WINDOW_COLUMNS"]
