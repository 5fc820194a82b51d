"""``audit_windows``: every window of rows in memory, from one validation, one prediction and one context whose
control axis is the window."""

from __future__ import annotations

from typing import Any, Sequence

from ..exceptions import ConfigError, InputError
from .common import (ALERT_METRICS, check_options, labels_present, model_info, settings_of,
                     with_references)
from .result import WindowedAudit


def audit_windows(model: Any, data: Any, *, time: str, every: Any, label: str, protected: Sequence[str] | str,
                  reference: Any = "first", metrics: Sequence[str] = ALERT_METRICS, persistence: int = 1,
                  min_rows: int | None = None, group_reference: dict[str, Any] | None = None,
                  positive_label: Any = None, favorable: bool = True,
                  features: Sequence[str] | None = None, predictions: Any = None, scores: Any = None,
                  threshold: float = 0.5, seed: int = 0, n_bootstrap: int = 1000, confidence: float = 0.95,
                  engine: str = "auto", **options: Any) -> WindowedAudit:
    """Audit every time window of a model's decisions, and test each window's disparities against a reference.

    Parameters
    ----------
    model, data, label, protected, positive_label, favorable, features, predictions, scores, threshold, seed,
    n_bootstrap, confidence, **options
        As for :func:`audit.run_audit` (rows in memory). Rows whose label is missing (not arrived yet) are kept:
        they count for the label-free metrics (selection rate, mean score, demographic parity); the others use
        the labelled rows and say how many (``n``). ``data`` may also be data an engine holds (a Parquet/CSV
        path or glob, a DuckDB relation, a Spark or Polars frame): the window is then one more key of the one
        grouped scan (windows of a frequency; ``reference`` "first" or "previous").
    engine : "auto", "pandas", "duckdb" or "spark"
        Where rows that are not a DataFrame are scanned, as for :func:`audit.run_audit`.
    time : str
        The column holding each decision's time (timestamps, or text pandas parses; one time zone or none).
    every : str or int
        The window: a pandas frequency (``"1D"``, ``"7D"``, ``"W-MON"``, ``"1MS"``), or a number of rows.
    reference : "first", "previous" or (start, end)
        What each window is compared with: the first window with enough rows, the window before, or the rows
        between two times (start inclusive, end exclusive), pooled into one reference.
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
        ``windows`` (one AuditResult each), ``window_table``, ``trend``, ``alerts``, ``info``; ``gate``,
        ``to_html``, ``to_json``, ``to_markdown``, ``to_junit``.
    """
    import numpy as np
    import pandas as pd

    from .. import _engine
    from .._validation import validate_inputs
    from ..config import AuditConfig
    from .summary import subset, summarise
    from .windowing import Windowing, read_times

    mode = check_options(metrics, persistence, reference)
    cfg = AuditConfig.from_dict({**options, "threshold": threshold, "seed": seed, "n_bootstrap": n_bootstrap,
                                 "confidence": confidence})
    min_rows = cfg.min_group_size if min_rows is None else min_rows
    _engine.check_model_arguments(model, predictions, scores)  # before any data is read
    if not isinstance(data, pd.DataFrame):
        from .._scale.sources import is_engine_data, open_source

        if not is_engine_data(data):
            raise InputError(f"data must be a pandas DataFrame, a Parquet/CSV path or glob, a DuckDB relation or a "
                             f"Spark or Polars frame; got {type(data).__name__}.", code="not_a_dataframe")
        frame, source = open_source(data, engine)
        if source is not None:
            from .engine import engine_windows

            return engine_windows(model, source, time=time, every=every, label=label, protected=protected,
                                  mode=mode, metrics=metrics, persistence=persistence, min_rows=min_rows,
                                  group_reference=group_reference, positive_label=positive_label,
                                  favorable=favorable, features=features, predictions=predictions, scores=scores,
                                  cfg=cfg)
        data = frame  # a small file, read into memory
    ts = read_times(data, time)
    windowing = Windowing.start(every, ts.min())
    index, starts, ends = windowing.spans(ts)
    n_windows = len(starts)
    if n_windows < 2:
        raise ConfigError(f"every={every!r} makes one window over the data's range ({ts.min()} to {ts.max()}): "
                          "there is nothing to compare; give a shorter window.", code="invalid_option")
    if mode == "range":
        lo, hi = pd.Timestamp(reference[0]), pd.Timestamp(reference[1])
        in_ref = ((ts >= lo) & (ts < hi)).to_numpy()
        if int(in_ref.sum()) < max(min_rows, 1):
            raise InputError(f"reference=({reference[0]!r}, {reference[1]!r}) holds {int(in_ref.sum()):,} row(s) "
                             f"of the data (its times run from {ts.min()} to {ts.max()}); a reference needs at least "
                             f"min_rows={max(min_rows, 1)}: give a wider range.", code="empty_reference")

    filled, labelled = labels_present(data, label, positive_label)
    features = features if features is not None else ([] if model is None else None)
    inputs = validate_inputs(filled, label=label, positive_label=positive_label, favorable=favorable,
                             protected=protected, reference=group_reference, features=features,
                             model_features=_engine.model_features_of(model) if features is None else None,
                             predictions=predictions, scores=scores, config=cfg)
    out, _ = _engine.predict_rows(model, inputs, cfg)
    if group_reference is None:
        inputs = with_references(inputs, out, cfg)
    group_reference = dict(inputs.reference)
    info_model = model_info(out)
    common = dict(min_rows=min_rows, alert_metrics=tuple(metrics), model_info=info_model)
    spans = summarise(inputs, out, cfg, index, starts, ends, labelled=labelled, time_values=ts.to_numpy(), **common)
    ref_window = None
    if mode == "range":
        rows = np.flatnonzero(in_ref)
        ref_inputs, ref_out = subset(inputs, out, rows)
        ref_window = summarise(ref_inputs, ref_out, cfg, np.zeros(len(rows), dtype=np.int64), [str(lo)], [str(hi)],
                               labelled=None if labelled is None else labelled[rows], names=["(reference)"],
                               time_values=ts.to_numpy()[rows], **common)[0]
    settings = settings_of(time=time, windowing=windowing, mode=mode, reference=reference, metrics=metrics,
                           persistence=persistence, min_rows=min_rows, cfg=cfg, inputs=inputs,
                           info_model=info_model)
    return WindowedAudit(tuple(settings.items()), tuple(spans), ref_window)


