"""Windows of data an engine holds (a Parquet/CSV path or glob, a DuckDB relation, a Spark or Polars frame): the
window is one more key of the one grouped scan (``(time - origin) // step``, or whole months), never one scan per
window; the cells are then audited window by window exactly as in memory. Rows without a label are kept (late
labels)."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from ..exceptions import ConfigError, InputError


def window_key(time: str, every: Any, first_time: Any) -> tuple[Any, Any]:
    """(the Windowing of the data, its scan key): fixed lengths (``"1D"``, ``"7D"``, ``"12h"``), weeks anchored on
    a day (``"W-MON"``) and whole months (``"MS"``, ``"3MS"``)."""
    import pandas as pd

    from .._scale.scan import WindowKey
    from .windowing import Windowing

    if isinstance(every, int) and not isinstance(every, bool):
        raise ConfigError(f"every={every!r} is invalid for data an engine holds: windows of a number of rows need "
                          "the rows in time order; give a frequency such as '7D' or '1MS'.", code="invalid_option")
    windowing = Windowing.start(every, first_time)
    offset = windowing.offset
    origin = pd.Timestamp(windowing.origin).to_pydatetime()
    if isinstance(offset, pd.offsets.Day):  # pandas 3: a calendar day (24 hours in naive UTC), not a Tick
        return windowing, WindowKey(time, "tick", origin, int(offset.n) * 86_400_000_000)
    if isinstance(offset, pd.offsets.Tick):
        return windowing, WindowKey(time, "tick", origin, int(offset.nanos // 1000))
    if isinstance(offset, pd.offsets.Week) and offset.weekday is not None:
        return windowing, WindowKey(time, "tick", origin, int(offset.n) * 7 * 86_400_000_000)
    if isinstance(offset, pd.offsets.MonthBegin):
        return windowing, WindowKey(time, "month", origin, int(offset.n))
    raise ConfigError(f"every={every!r} is invalid for data an engine holds: give a fixed length ('1D', '7D', "
                      "'12h'), weeks on a day ('W-MON') or months ('1MS', '3MS').", code="invalid_option")


def time_range(source: Any, time: str) -> tuple[Any, Any]:
    """The earliest and latest time, computed by the engine; the column must hold timestamps (or dates) without
    a time zone and no missing value."""
    import narwhals as nw
    import pandas as pd

    from .._scale import scan
    from .._validation import require_column

    require_column(pd.DataFrame(columns=list(source.columns)), time, "time")
    dtype = source.frame.collect_schema()[time]
    if not (dtype == nw.Datetime or dtype == nw.Date):
        raise InputError(f"time column {time!r} holds {dtype} values, not timestamps: an engine compares times "
                         "where the data lives; store the column as a timestamp.", code="bad_time", column=time)
    if getattr(dtype, "time_zone", None) not in (None, "UTC", "Etc/UTC", "+00:00"):  # Spark: its session's zone
        raise InputError(f"time column {time!r} holds times with a time zone ({dtype.time_zone}): give them in UTC "
                         "without a zone (DuckDB: CAST(t AT TIME ZONE 'UTC' AS TIMESTAMP)).",
                         code="mixed_time_zones", column=time)
    t = nw.col(time)
    out = scan._to_pandas(source.frame.select(t.min().alias("lo"), t.max().alias("hi"),
                                              t.null_count().alias("missing")))
    missing = int(out["missing"].iloc[0] or 0)
    if missing:
        raise InputError(f"time column {time!r} has {missing:,} missing value(s) in {source.description}: every "
                         "decision needs its time.", code="missing_values", column=time)
    if pd.isna(out["lo"].iloc[0]):
        from .._validation import NO_ROWS

        raise InputError(NO_ROWS.format(what=f"data ({source.description})"), code="no_rows")
    lo, hi = pd.Timestamp(out["lo"].iloc[0]), pd.Timestamp(out["hi"].iloc[0])
    if lo.tzinfo is not None:  # a UTC zone (Spark's session zone): compared as naive UTC, as in memory
        lo, hi = lo.tz_convert("UTC").tz_localize(None), hi.tz_convert("UTC").tz_localize(None)
    return lo, hi


def engine_windows(model: Any, source: Any, *, time: str, every: Any, label: str, protected: Any,
                   mode: str, metrics: Sequence[str], persistence: int, min_rows: int,
                   group_reference: dict[str, Any] | None, positive_label: Any, favorable: bool,
                   features: Sequence[str] | None, predictions: Any, scores: Any, cfg: Any,
                   progress: bool | None = None) -> Any:
    import numpy as np
    import pandas as pd

    from .._model import ModelOutput
    from .._scale import scan
    from .._scale.run import scan_cells
    from .._scale.tables import CellScoreStatistics, cell_arrays
    from .._validation import validate_inputs
    from .common import labels_present, model_info, settings_of, with_references
    from .result import WindowedAudit
    from .summary import summarise

    """The windows of ``source`` (an opened engine source, closed here)."""
    try:
        if mode == "range":
            raise ConfigError("reference=(start, end) is invalid for data an engine holds: give 'first' or "
                              "'previous' (a pooled range is cut from rows in memory).", code="invalid_option")
        lo, hi = time_range(source, time)
        windowing, key = window_key(time, every, lo)
        if source.kind == "duckdb" and key.kind == "tick":  # DuckDB's own microseconds: cheaper than date parts
            import narwhals as nw

            from .._scale.scan import PREFIX

            epoch = PREFIX + "epoch_us"
            quoted = '"' + time.replace('"', '""') + '"'
            native = source.native.project(f'*, epoch_us({quoted}) AS "{epoch}"')
            source = dataclasses.replace(source, native=native, frame=nw.from_native(native))
            key = dataclasses.replace(key, epoch=epoch)
        sc = scan_cells(source, label=label, positive_label=positive_label, protected=protected, features=features,
                        model=model, predictions=predictions, scores=scores, cfg=cfg, progress=progress, window=key)
    finally:
        source.close()
    cells, plan = sc.cells, sc.plan
    win = cells[scan.WIN].to_numpy(np.int64)
    n_windows = int(win.max()) + 1
    if key.kind == "tick":
        starts = [pd.Timestamp(key.origin) + pd.Timedelta(microseconds=key.step * k) for k in range(n_windows + 1)]
    else:
        starts = [pd.Timestamp(key.origin) + pd.DateOffset(months=key.step * k) for k in range(n_windows + 1)]
    if n_windows < 2:
        raise ConfigError(f"every={every!r} makes one window over the data's range ({lo} to {hi}): there is nothing "
                          "to compare; give a shorter window.", code="invalid_option")
    key_cols = [c for c in plan.keys() if c != scan.WIN]
    filled, labelled = labels_present(cells[key_cols], sc.label, plan.positive)
    inputs = validate_inputs(filled, label=sc.label, positive_label=plan.positive, favorable=favorable,
                             protected=list(sc.protected), reference=group_reference, features=[],
                             model_features=None, predictions=scan.PRED, scores=None, config=cfg)
    weights = cells[scan.N].to_numpy(np.int64)
    inputs = dataclasses.replace(inputs, n=int(weights.sum()), features=sc.features)
    probability = plan.scores is not None and plan.probability
    out = ModelOutput(inputs.predictions, np.zeros(len(cells)) if plan.scores is not None else None,
                      sc.kind if plan.scores is not None else None, sc.method, sc.description, sc.fingerprint, None)
    if group_reference is None:
        inputs = with_references(inputs, out, cfg, weights)

    def score_stats(rows: Any) -> Any:
        if plan.scores is None:
            return None
        part = cells if rows is None else cells.iloc[rows]
        y = inputs.y if rows is None else inputs.y[rows]
        return CellScoreStatistics(cell_arrays(part, y, probability), probability, cfg)

    info_model = model_info(out)
    names = [str(s) for s in starts]
    spans = summarise(inputs, out, cfg, win, names[:-1], names[1:], labelled=labelled, min_rows=min_rows,
                      alert_metrics=tuple(metrics), model_info=info_model, weights=weights,
                      score_stats=score_stats)
    settings = settings_of(time=time, windowing=windowing, mode=mode, reference=mode, metrics=metrics,
                           persistence=persistence, min_rows=min_rows, cfg=cfg, inputs=inputs,
                           info_model=info_model)
    settings["engine"] = source.kind
    return WindowedAudit(tuple(settings.items()), tuple(spans), None)
