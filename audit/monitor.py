"""Fairness over time: every window of a running model audited from one pass over the rows (the core's control
axis), and each window's disparities tested against a reference window with false alarms controlled.

    windowed = audit.audit_windows(model, decisions, time="decided_at", every="7D", label="repaid",
                                   protected=["sex"], reference="first")
    windowed.trend      # window_start, window_end, attribute, group, metric, value, ci_low, ci_high, n, status
    windowed.alerts     # window_start, attribute, group, metric, reference_value, value, change, ..., verdict

A window's numbers equal an audit of its rows alone (the same statistics, their own bootstrap streams). An alert
compares a window's disparity with the reference window's: the change, its interval and a two-sided Wald test
whose standard error combines the two windows' bootstrap standard errors (independent resamples of disjoint rows);
ratios are tested on the log scale. The
p-values are Holm-adjusted across the whole family: every tested window x alert metric x group, so that a monitor
with no drift raises any alert with probability at most ``1 - confidence``. ``persistence=k`` alerts only after k
consecutive windows whose change is significant in the same direction.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

from .exceptions import ConfigError, InputError
from .record.codec import dumps
from .record.tables import Table

TREND_COLUMNS = ("window_start", "window_end", "attribute", "group", "metric", "value", "ci_low", "ci_high", "n",
                 "status")
ALERT_COLUMNS = ("window_start", "attribute", "group", "reference", "metric", "reference_value", "value", "change",
                 "ci_low", "ci_high", "p_value", "verdict", "reason")
WINDOW_COLUMNS = ("window", "window_start", "window_end", "n", "status")
#: the disparities tested by default: the headline ones (each metric added to the family costs power)
ALERT_METRICS = ("demographic_parity_ratio", "equal_opportunity_difference")
REFERENCES = ("first", "previous")


@dataclass(frozen=True)
class WindowedAudit:
    """Every window of a running model: the trend of every metric and disparity, and the alerts.

    Attributes
    ----------
    windows : DataFrame
        One row per window: its start and end (end exclusive; for windows of a number of rows, the time of the
        last row), rows, and its status (ok, insufficient data, empty).
    trend : DataFrame
        Every metric (and disparity against the window's own reference group) of every group in every window.
    alerts : DataFrame
        Each tested change of an alert metric against the reference window, Holm-adjusted across the family;
        ``verdict`` is ``drift``, ``no drift``, ``not tested`` or ``insufficient data`` (with the reason).
    info : dict
        The time column, the windowing, the reference, the family and its size, the correction, persistence.
    """

    windows_table: Table
    trend_table: Table
    alerts_table: Table
    info: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def windows(self) -> Any:
        return self.windows_table.to_frame()

    @property
    def trend(self) -> Any:
        return self.trend_table.to_frame()

    @property
    def alerts(self) -> Any:
        return self.alerts_table.to_frame()

    def drift(self) -> list[dict[str, Any]]:
        """The alerts whose verdict is drift."""
        return [r for r in self.alerts_table.records() if r["verdict"] == "drift"]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "fairness-audit/windows", "format_version": 1, "info": dict(self.info),
                "windows": self.windows_table.to_dict(), "trend": self.trend_table.to_dict(),
                "alerts": self.alerts_table.to_dict()}

    def to_json(self, path: Any = None) -> str:
        """The versioned JSON text; written atomically to ``path`` when given."""
        text = dumps(self.to_dict())
        if path is not None:
            from .record.atomic import write_atomic

            write_atomic(path, text)
        return text


def _times(data: Any, time: str) -> Any:
    """The time column as timestamps: present, no missing or unparsable value, one time zone (or none)."""
    import pandas as pd

    from ._validation import require_column

    require_column(data, time, "time")
    s = data[time]
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        ts = s
    else:
        zones = {getattr(v, "tzinfo", None) is not None for v in s.dropna().head(10_000)
                 if hasattr(v, "tzinfo")}
        if len(zones) > 1:
            raise InputError(f"time column {time!r} mixes times with and without a time zone: give them all one "
                             "time zone (or none).", code="mixed_time_zones", column=str(time))
        try:
            ts = pd.to_datetime(s, errors="raise")
        except (ValueError, TypeError) as exc:
            bad = pd.to_datetime(s, errors="coerce").isna() & s.notna()
            first = data.index[int(bad.to_numpy().argmax())] if bad.any() else None
            raise InputError(f"time column {time!r} has values that are not times"
                             + (f", first at index {first!r} ({s.loc[first]!r})" if first is not None else "")
                             + f": {' '.join(str(exc).split())[:120]}. Give timestamps or ISO 8601 text.",
                             code="bad_time", column=str(time)) from None
    missing = ts.isna()
    if missing.any():
        first = data.index[int(missing.to_numpy().argmax())]
        raise InputError(f"time column {time!r} has {int(missing.sum()):,} missing value(s), first at index "
                         f"{first!r}: every decision needs its time.", code="missing_values", column=str(time))
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts


def _windows(ts: Any, every: Any) -> tuple[Any, Any, Any]:
    """(window index per row, window starts, window ends): ``every`` a pandas frequency ("7D", "1MS", "W-MON") or a
    number of rows (consecutive in time order). Windows cover the range without gaps; empty ones are kept."""
    import numpy as np
    import pandas as pd

    if isinstance(every, int) and not isinstance(every, bool):
        if every < 1:
            raise ConfigError(f"every={every!r} is invalid: give a number of rows of at least 1, or a frequency "
                              "such as '7D' or '1MS'.", code="invalid_option")
        order = np.argsort(ts.to_numpy(), kind="stable")
        index = np.empty(len(ts), dtype=np.int64)
        index[order] = np.arange(len(ts)) // every
        sorted_ts = ts.to_numpy()[order]
        n = int(index.max()) + 1 if len(ts) else 0
        starts = pd.DatetimeIndex([sorted_ts[k * every] for k in range(n)])
        ends = pd.DatetimeIndex([sorted_ts[min((k + 1) * every, len(ts)) - 1] for k in range(n)])
        return index, starts, ends
    try:
        offset = pd.tseries.frequencies.to_offset(every)
    except (ValueError, TypeError):
        raise ConfigError(f"every={every!r} is invalid: give a pandas frequency such as '1D', '7D', 'W-MON' or "
                          "'1MS', or a number of rows.", code="invalid_option") from None
    lo, hi = ts.min(), ts.max()
    if isinstance(offset, pd.offsets.Tick):  # fixed lengths: whole days start at midnight of the first day
        day = pd.Timedelta("1D")
        start = lo.normalize() if offset.nanos >= day.value else lo.floor(offset)
    else:
        start = offset.rollback(lo.normalize())
    edges = pd.date_range(start=start, end=hi + offset, freq=offset)
    if len(edges) < 2 or edges[-1] <= hi:
        edges = edges.append(pd.DatetimeIndex([edges[-1] + offset]))
    index = np.searchsorted(edges.to_numpy(), ts.to_numpy(), side="right") - 1
    n = int(index.max()) + 1
    if len(edges) - 1 > 10_000:
        raise ConfigError(f"every={every!r} makes {len(edges) - 1:,} windows over the data's range ({lo} to {hi}): "
                          "choose a longer window.", code="invalid_option")
    return index, edges[:n], edges[1:n + 1]


def audit_windows(model: Any, data: Any, *, time: str, every: Any, label: str, protected: Sequence[str] | str,
                  reference: Any = "first", metrics: Sequence[str] = ALERT_METRICS, persistence: int = 1,
                  min_rows: int | None = None, group_reference: dict[str, Any] | None = None,
                  positive_label: Any = None, favorable: bool = True,
                  features: Sequence[str] | None = None, predictions: Any = None, scores: Any = None,
                  threshold: float = 0.5, seed: int = 0, n_bootstrap: int = 1000, confidence: float = 0.95,
                  **options: Any) -> WindowedAudit:
    """Audit every time window of a model's decisions, and test each window's disparities against a reference.

    Parameters
    ----------
    model, data, label, protected, positive_label, favorable, features, predictions, scores, threshold, seed,
    n_bootstrap, confidence, **options
        As for :func:`audit.run_audit` (rows in memory).
    time : str
        The column holding each decision's time (timestamps, or text pandas parses; one time zone or none).
    every : str or int
        The window: a pandas frequency (``"1D"``, ``"7D"``, ``"W-MON"``, ``"1MS"``), or a number of rows.
    reference : "first", "previous" or (start, end)
        What each window is compared with: the first window with data, the window before, or the rows between two
        times (start inclusive, end exclusive), pooled into one reference.
    metrics : list of str
        The disparities tested for drift (default: demographic parity ratio, equal opportunity difference); every
        metric added enlarges the family the p-values are adjusted across.
    persistence : int
        Alert only after this many consecutive windows significant in the same direction.
    min_rows : int, optional
        Windows with fewer rows are insufficient: reported, never tested (default: the audit's min_group_size).
    group_reference : dict, optional
        ``{attribute: group}``, the reference group of every window's disparities; by default, per attribute, the
        group with the highest rate of favourable predictions over all rows (one reference for every window, so
        that windows compare the same groups).

    Returns
    -------
    WindowedAudit
        ``windows``, ``trend``, ``alerts`` and ``info``.
    """
    import numpy as np
    import pandas as pd

    from . import _engine
    from ._context import build_context
    from ._validation import Attribute, validate_inputs
    from .config import AuditConfig
    from .metrics import DISPARITY_METRICS
    from .modules import bias, performance

    unknown = [m for m in metrics if m not in DISPARITY_METRICS]
    if unknown or not metrics:
        raise ConfigError(f"metrics={list(metrics)!r} is invalid: give disparities among "
                          f"{', '.join(DISPARITY_METRICS)}.", code="invalid_option")
    if not (isinstance(persistence, int) and not isinstance(persistence, bool) and persistence >= 1):
        raise ConfigError(f"persistence={persistence!r} is invalid: give an integer of at least 1.",
                          code="invalid_option")
    if not isinstance(data, pd.DataFrame):
        raise InputError("audit_windows audits rows in memory: give a pandas DataFrame (data an engine holds is "
                         "not supported here yet).", code="not_a_dataframe")
    cfg = AuditConfig.from_dict({**options, "threshold": threshold, "seed": seed, "n_bootstrap": n_bootstrap,
                                 "confidence": confidence})
    min_rows = cfg.min_group_size if min_rows is None else min_rows
    ts = _times(data, time)
    index, starts, ends = _windows(ts, every)
    names = tuple(str(s) for s in starts)
    n_windows = len(names)
    if isinstance(reference, tuple) and len(reference) == 2:
        lo, hi = pd.Timestamp(reference[0]), pd.Timestamp(reference[1])
        in_ref = ((ts >= lo) & (ts < hi)).to_numpy()
        if not in_ref.any():
            raise InputError(f"reference=({reference[0]!r}, {reference[1]!r}) holds no row of the data (its times "
                             f"run from {ts.min()} to {ts.max()}).", code="empty_reference")
        ref_mode = "range"
    elif reference in REFERENCES:
        in_ref, ref_mode = None, reference
    else:
        raise ConfigError(f"reference={reference!r} is invalid: give 'first', 'previous' or (start, end).",
                          code="invalid_option")

    _engine.check_model_arguments(model, predictions, scores)
    features = features if features is not None else ([] if model is None else None)
    inputs = validate_inputs(data, label=label, positive_label=positive_label, favorable=favorable,
                             protected=protected, reference=group_reference, features=features,
                             model_features=_engine.model_features_of(model) if features is None else None,
                             predictions=predictions, scores=scores, config=cfg)
    out, _ = _engine.predict_rows(model, inputs, cfg)
    if group_reference is None:  # one reference group per attribute for every window
        import dataclasses

        fav = out.predictions if inputs.favorable else 1 - out.predictions
        refs = {}
        for a in inputs.attributes:
            n = np.bincount(a.codes, minlength=len(a.groups))
            rate = np.bincount(a.codes, weights=fav, minlength=len(a.groups)) / np.maximum(n, 1)
            rate = np.where(n >= cfg.min_group_size, rate, -1.0)
            refs[a.name] = a.groups[int(np.argmax(rate))]
        inputs = dataclasses.replace(inputs, reference=refs)
        group_reference = refs
    control = Attribute("(window)", names, index.astype(np.int64), True)
    with _engine.blas_single_threaded():
        ctx = build_context(inputs, out, cfg, control=control)
        if ref_mode == "range":  # the rows of the reference range, pooled into one reference audit
            ref_inputs, ref_out = _subset(inputs, out, np.flatnonzero(in_ref))  # validated and predicted once
            ref_ctx = build_context(ref_inputs, ref_out, cfg)
        perf = performance.run(ctx)
        disp = bias.run(ctx)["disparities"]
        spread = replicate_spread(ctx, metrics)
        if ref_mode == "range":
            ref_disp = bias.run(ref_ctx)["disparities"]
            spread.update({("(reference)", *k[1:]): v for k, v in replicate_spread(ref_ctx, metrics).items()})
    counts = np.bincount(index, minlength=n_windows)
    window_rows = [{"window": k, "window_start": str(starts[k]), "window_end": str(ends[k]), "n": int(counts[k]),
                    "status": "empty" if counts[k] == 0 else ("insufficient data" if counts[k] < min_rows else "ok")}
                   for k in range(n_windows)]
    start_of = {names[k]: (str(starts[k]), str(ends[k])) for k in range(n_windows)}
    trend = []
    sizes = {(g["level"], g["attribute"], g["group"]): g["n"] for g in perf["groups"]}  # a disparity's n: its group's
    for r in perf["metrics"]:
        if r["level"] in start_of:
            trend.append({"window_start": start_of[r["level"]][0], "window_end": start_of[r["level"]][1], **r})
    for r in disp:
        if r["level"] in start_of and r["comparison"] == "vs_reference":
            trend.append({"window_start": start_of[r["level"]][0], "window_end": start_of[r["level"]][1],
                          **r, "n": sizes.get((r["level"], r["attribute"], r["group"]), 0), "status": r["verdict"]})
    for r in trend:
        r["n"] = int(r["n"]) if r.get("n") is not None else 0
    alerts, family = _alerts(disp, ref_disp if ref_mode == "range" else None, names, window_rows, ref_mode,
                             tuple(metrics), cfg, persistence, spread)
    info = {"time": time, "every": every if isinstance(every, (int, str)) else str(every),
            "reference": ref_mode if ref_mode != "range" else [str(reference[0]), str(reference[1])],
            "alert_metrics": list(metrics), "family": "every tested window x alert metric x group",
            "family_size": family, "correction": "holm", "persistence": persistence, "min_rows": min_rows,
            "confidence": cfg.confidence, "n_rows": int(inputs.n), "n_windows": n_windows,
            "group_reference": {k: str(v) for k, v in group_reference.items()}}
    return WindowedAudit(Table.from_records(WINDOW_COLUMNS, window_rows), Table.from_records(TREND_COLUMNS, trend),
                         Table.from_records(ALERT_COLUMNS, alerts), tuple(info.items()))


def _subset(inputs: Any, out: Any, rows: Any) -> tuple[Any, Any]:
    """The validated rows ``rows`` and the model's output on them, cut from the audit's own (no second validation
    or prediction); every group of every attribute is kept (absent ones with no rows)."""
    import dataclasses

    attributes = tuple(dataclasses.replace(a, codes=a.codes[rows]) for a in inputs.attributes)
    sub = dataclasses.replace(
        inputs, data=inputs.data.iloc[rows], n=len(rows), y=inputs.y[rows], attributes=attributes,
        predictions=None if inputs.predictions is None else inputs.predictions[rows],
        scores=None if inputs.scores is None else inputs.scores[rows])
    return sub, dataclasses.replace(out, predictions=out.predictions[rows],
                                    scores=None if out.scores is None else out.scores[rows])


def replicate_spread(ctx: Any, metrics: Sequence[str]) -> dict[tuple[Any, ...], tuple[float, float]]:
    """The bootstrap standard error of every group's disparity (and of its log, for ratios) in every window, from
    the same replicates the intervals come from: ``{(window, attribute, group, metric): (se, se_of_log)}``."""
    import numpy as np

    from .modules._groups import group_facts
    from .modules.bias import DISPARITIES, components, disparity

    wanted = [d for d in DISPARITIES if d.name in metrics]
    out: dict[tuple[Any, ...], tuple[float, float]] = {}
    for part in ctx.partitions:
        if not part.members or len(part.groups) < 2 or part.boot_counts is None:
            continue
        facts = group_facts(ctx, part)
        boot = components(ctx, part, part.boot_counts, part.score_boot)
        for d in wanted:
            if d.component not in boot:
                continue
            reps = disparity(d, boot, facts.reference, ctx.favorable)
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a group without resamples: no spread (NaN)
                se = np.nanstd(reps, axis=0, ddof=1)
                se_log = np.nanstd(np.log(np.where(reps > 0, reps, np.nan)), axis=0, ddof=1)
            for g, group in enumerate(part.groups):
                out[(part.level, part.attribute, group, d.name)] = (float(se[g]), float(se_log[g]))
    return out


def _alerts(disp: list[dict[str, Any]], ref_disp: list[dict[str, Any]] | None, names: tuple[str, ...],
            windows: list[dict[str, Any]], ref_mode: str, metrics: tuple[str, ...], cfg: Any,
            persistence: int, spread: dict[tuple[Any, ...], tuple[float, float]]) -> tuple[list[dict[str, Any]], int]:
    from scipy.stats import norm

    from .stats.significance import adjust

    z = float(norm.ppf(1 - (1 - cfg.confidence) / 2))
    rows = {(r["level"], r["attribute"], r["group"], r["metric"]): r for r in disp
            if r["comparison"] == "vs_reference" and r["metric"] in metrics}
    ref_rows = None if ref_disp is None else {(r["attribute"], r["group"], r["metric"]): r for r in ref_disp
                                              if r["comparison"] == "vs_reference" and r["metric"] in metrics}
    ok = [w["status"] == "ok" for w in windows]
    first = next((k for k, good in enumerate(ok) if good), None)
    out: list[dict[str, Any]] = []
    keys = sorted({k[1:] for k in rows}, key=lambda k: (k[0], k[2], k[1]))
    for k, name in enumerate(names):
        if ref_mode == "first" and k == first:
            continue
        for attribute, group, metric in keys:
            r = rows.get((name, attribute, group, metric))
            if r is None:
                continue
            if ref_mode == "range":
                ref = ref_rows.get((attribute, group, metric))
            else:
                ref_k = first if ref_mode == "first" else k - 1
                ref = None if ref_k is None or ref_k < 0 else rows.get((names[ref_k], attribute, group, metric))
            base = {"window_start": windows[k]["window_start"], "attribute": attribute, "group": group,
                    "reference": r["reference"], "metric": metric, "value": r["value"],
                    "reference_value": None if ref is None else ref["value"], "change": None, "ci_low": None,
                    "ci_high": None, "p_value": None}
            if not ok[k] or ref is None or (ref_mode != "range" and not ok[ref_k]):
                out.append({**base, "verdict": "insufficient data",
                            "reason": "the window or its reference has too few rows" if ref is not None or not ok[k]
                            else "no reference window"})
                continue
            if r["verdict"] in ("insufficient data", "undefined") or ref["verdict"] in ("insufficient data",
                                                                                         "undefined"):
                out.append({**base, "verdict": "insufficient data",
                            "reason": "a group has too little data in the window or the reference"})
                continue
            if ref["reference"] != r["reference"]:
                out.append({**base, "verdict": "not tested", "reason": f"the reference group changed "
                            f"({ref['reference']} to {r['reference']}): the disparities compare different groups"})
                continue
            ref_name = "(reference)" if ref_mode == "range" else names[ref_k]
            sw, sr = spread.get((name, attribute, group, metric)), spread.get((ref_name, attribute, group, metric))
            ratio = metric.endswith("_ratio")
            usable = (sw is not None and sr is not None and r["value"] is not None and ref["value"] is not None
                      and all(math.isfinite(v) and v > 0 for v in (sw[0], sr[0]) + ((sw[1], sr[1]) if ratio else ()))
                      and (not ratio or (r["value"] > 0 and ref["value"] > 0)))
            if not usable:
                out.append({**base, "verdict": "not tested", "reason": "no resamples to test with (n_bootstrap=0), "
                            "or the resamples cannot move a value"})
                continue
            change = r["value"] - ref["value"]
            se = math.hypot(sw[0], sr[0])
            if ratio:  # ratios are tested on the log scale, where their sampling is nearly symmetric
                p = float(2 * norm.sf(abs(math.log(r["value"] / ref["value"])) / math.hypot(sw[1], sr[1])))
            else:
                p = float(2 * norm.sf(abs(change) / se))
            out.append({**base, "change": change, "ci_low": change - z * se, "ci_high": change + z * se,
                        "p_value": p, "verdict": "tested", "reason": ""})
    tested = [a for a in out if a["verdict"] == "tested"]
    if tested:
        adjusted = adjust([a["p_value"] for a in tested], "holm")
        for a, p in zip(tested, adjusted):
            a["p_raw"], a["p_value"] = a["p_value"], float(p)
    alpha = 1 - cfg.confidence
    streak: dict[tuple[str, str, str], tuple[int, int]] = {}  # (attribute, group, metric) -> (sign, run length)
    for a in out:  # windows in time order
        key = (a["attribute"], a["group"], a["metric"])
        if a["verdict"] != "tested":
            streak[key] = (0, 0)
            continue
        sign = 1 if a["change"] > 0 else -1
        if a["p_value"] < alpha:
            prev_sign, run = streak.get(key, (0, 0))
            run = run + 1 if prev_sign == sign else 1
            streak[key] = (sign, run)
            drift = run >= persistence
            a["verdict"] = "drift" if drift else "no drift"
            if not drift:
                a["reason"] = f"significant, {run} of {persistence} consecutive windows"
        else:
            streak[key] = (0, 0)
            a["verdict"] = "no drift"
    return out, len(tested)
