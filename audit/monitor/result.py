"""``WindowedAudit``: every window of a running model, frozen: each window's own audit, the trend of every metric
and disparity, the alerts, and their outputs (JSON, HTML, Markdown, JUnit) and gate."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..exceptions import InputError
from ..record.codec import dumps, load_json
from ..record.tables import Table
from .alerts import ALERT_COLUMNS, alerts
from .summary import Window

FORMAT = "fairness-audit/windows"
FORMAT_VERSION = 2
TREND_COLUMNS = ("window_start", "window_end", "attribute", "group", "metric", "value", "ci_low", "ci_high", "n",
                 "status")
WINDOW_COLUMNS = ("window", "window_start", "window_end", "n", "n_labelled", "status")


@dataclass(frozen=True)
class WindowedAudit:
    """Every window of a running model: each window's audit, the trend of every metric and disparity, the alerts.

    Attributes
    ----------
    windows : tuple of AuditResult
        One audit per window, in time order (an empty window's has no rows); ``window(start)`` picks one.
    window_table : DataFrame
        One row per window: its start and end (end exclusive; for windows of a number of rows, the time of the
        last row), rows, labelled rows and its status (ok, insufficient data, empty).
    trend : DataFrame
        Every metric (and disparity against the window's own reference group) of every group in every window.
    alerts : DataFrame
        Each tested change of an alert metric against the reference window, Holm-adjusted across the family;
        ``verdict`` is ``drift``, ``no drift``, ``not tested`` or ``insufficient data`` (with the reason).
    info : dict
        The time column, the windowing, the reference, the family and its size, the correction, persistence.
    """

    settings: tuple[tuple[str, Any], ...]
    spans: tuple[Window, ...]
    reference_window: Window | None = None

    # the data ---------------------------------------------------------------------------------------------
    @property
    def windows(self) -> tuple[Any, ...]:
        return tuple(w.result for w in self.spans)

    def window(self, start: Any) -> Any:
        """The audit of the window starting at ``start`` (a time, or its text as in ``window_table``)."""
        import pandas as pd

        want = str(pd.Timestamp(start))
        for w in self.spans:
            if w.start == want:
                return w.result
        raise InputError(f"no window starts at {start!r}; the windows start at "
                         f"{', '.join(w.start for w in self.spans[:5])}{' ...' if len(self.spans) > 5 else ''}.",
                         code="no_such_window")

    @cached_property
    def _computed(self) -> tuple[Table, Table, Table, int]:
        info = dict(self.settings)
        rows, family = alerts(self.spans, self.reference_window, info["reference_mode"], info["alert_metrics"],
                              info["confidence"], info["persistence"])
        trend = []
        for w in self.spans:
            head = {"window_start": w.start, "window_end": w.end}
            res = w.result
            for r in res.metrics_table.records():
                trend.append({**head, **r})
            sizes = {(g["attribute"], g["group"]): g["n"] for g in res.groups_table.records()}
            for r in res.disparities_table.records():
                if r["comparison"] == "vs_reference":
                    trend.append({**head, **r, "n": sizes.get((r["attribute"], r["group"]), 0),
                                  "status": r["verdict"]})
        table = [{"window": k, "window_start": w.start, "window_end": w.end, "n": w.n, "n_labelled": w.n_labelled,
                  "status": w.status} for k, w in enumerate(self.spans)]
        return (Table.from_records(WINDOW_COLUMNS, table), Table.from_records(TREND_COLUMNS, trend),
                Table.from_records(ALERT_COLUMNS, rows), family)

    @property
    def window_table(self) -> Any:
        return self._computed[0].to_frame()

    @property
    def trend(self) -> Any:
        return self._computed[1].to_frame()

    @property
    def alerts(self) -> Any:
        return self._computed[2].to_frame()

    @property
    def info(self) -> dict[str, Any]:
        out = dict(self.settings)
        out.update(n_windows=len(self.spans), n_rows=sum(w.n for w in self.spans), family_size=self._computed[3],
                   family="every tested window x alert metric x group", correction="holm")
        return out

    def alert_records(self) -> list[dict[str, Any]]:
        return self._computed[2].records()

    def drift(self) -> list[dict[str, Any]]:
        """The alerts whose verdict is drift."""
        return [r for r in self.alert_records() if r["verdict"] == "drift"]

    def trend_records(self) -> list[dict[str, Any]]:
        return self._computed[1].records()

    # files ------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "settings": dict(self.settings),
                "windows": [w.to_dict() for w in self.spans],
                "reference_window": None if self.reference_window is None else self.reference_window.to_dict(),
                # derived, for readers of the file (recomputed from the windows on load)
                "window_table": self._computed[0].to_dict(), "alerts": self._computed[2].to_dict()}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The versioned JSON text; written atomically to ``path`` when given."""
        text = dumps(self.to_dict())
        if path is not None:
            from ..record.atomic import write_atomic

            write_atomic(path, text)
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "windowed audit") -> "WindowedAudit":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"{source}: this is not a fairness-audit windowed audit (its 'format' field is missing "
                             "or different).", code="not_a_result")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
            raise InputError(f"{source}: windowed-audit format_version {version!r} is not one this library reads "
                             f"({FORMAT_VERSION})" + ("; upgrade fairness-audit to read it." if newer else
                                                      "; re-run audit_windows to rebuild it."),
                             code="result_version")
        settings = d.get("settings")
        if not isinstance(settings, dict) or not isinstance(d.get("windows"), list):
            raise InputError(f"{source}: settings or windows are missing.", code="malformed_result")
        needed = ("time", "every", "reference_mode", "alert_metrics", "persistence", "min_rows", "confidence", "label",
                  "protected", "group_reference", "config", "model")
        missing = [k for k in needed if k not in settings]
        if missing:
            raise InputError(f"{source}: settings lack {', '.join(missing)}.", code="malformed_result")
        if settings["reference_mode"] not in ("first", "previous", "range") or not isinstance(
                settings["alert_metrics"], list):
            raise InputError(f"{source}: settings are malformed (reference_mode {settings['reference_mode']!r}).",
                             code="malformed_result")
        ref = d.get("reference_window")
        return cls(tuple(settings.items()), tuple(Window.from_dict(w, source) for w in d["windows"]),
                   None if ref is None else Window.from_dict(ref, source))

    @classmethod
    def from_json(cls, path_or_text: Any) -> "WindowedAudit":
        d, source = load_json(path_or_text)
        return cls.from_dict(d, source=source)

    # outputs ----------------------------------------------------------------------------------------------
    def gate(self, policy: Any) -> Any:
        """Judge the windows against a policy (``[monitor] scope`` = ``"last_window"`` or ``"any_window"``,
        ``max_drift``); see :func:`audit.gate.evaluate_windows`."""
        from ..gate import Policy, evaluate_windows

        if not isinstance(policy, Policy):
            policy = Policy.from_toml(policy) if isinstance(policy, (str, os.PathLike)) else Policy.from_dict(policy)
        return evaluate_windows(self, policy)

    def to_html(self, path: str | os.PathLike[str] | None = None, gate: Any = None) -> str:
        """The monitoring report: one self-contained page (trend charts with intervals and alert markers, the
        group mix over time, the alerts and the windows)."""
        from ..report.monitor_view import render_html

        html = render_html(self, gate)
        if path is not None:
            from ..record.atomic import write_atomic

            write_atomic(path, html)
        return html

    def to_markdown(self, gate: Any = None) -> str:
        from ..report.monitor_view import render_markdown

        return render_markdown(self, gate)

    def to_junit(self, gate: Any = None) -> str:
        from ..report.monitor_view import render_junit

        return render_junit(self, gate)

    def _repr_html_(self) -> str:
        from ..report.monitor_view import render_notebook

        return render_notebook(self)

    def __repr__(self) -> str:
        return (f"<WindowedAudit {len(self.spans)} windows, {sum(w.n for w in self.spans):,} rows, "
                f"{len(self.drift())} drift alert(s)>")
