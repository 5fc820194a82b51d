"""The engine's scan, written once as narwhals expressions (DuckDB, Spark, Polars run the same ones; batches of a
model's predictions get the same cells from numpy).

One grouped scan by (protected attributes, label, prediction, score bucket, calibration bin) gives the rows,
score sums and score range of every cell. Bad keys (missing values, too many groups, a third label value) and
bad scores are refused from the cells, with counts the engine computed; a look at the first rows refuses a
protected column with far too many values before the scan would build millions of groups.

Score sums are fixed point (``round(x * 2**24)``: each row's score, Brier and log-loss term off by at most 3e-8),
integers held in doubles:
their sums are exact whatever order an engine adds rows in, so DuckDB, Spark and a rerun with other partitions
give identical tables, hence identical results (the log itself is each engine's own function).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from ..exceptions import InputError

PREFIX = "_fa_"
PRED, BUCKET, CAL, N = PREFIX + "pred", PREFIX + "b", PREFIX + "cal", PREFIX + "n"
WIN = PREFIX + "window"


@dataclass(frozen=True)
class WindowKey:
    """A time window as one more key of the grouped scan: ``(time - origin) // step`` for fixed lengths
    (microseconds), or whole months counted from the origin's month; the same formula in the engine and in numpy."""

    time: str
    kind: str  # "tick" or "month"
    origin: Any  # datetime.datetime (naive UTC)
    step: int  # microseconds, or months
    epoch: str | None = None  # a column the engine added: the time in microseconds since 1970 (DuckDB's epoch_us)

    def origin_us(self) -> int:
        return int((pd.Timestamp(self.origin) - pd.Timestamp("1970-01-01")) // pd.Timedelta(microseconds=1))

    def expr(self) -> Any:
        """The window number as a narwhals expression: from the engine's own epoch column where it has one
        (DuckDB), else from the date's parts (one formula for Spark, Polars and any other engine)."""
        import narwhals as nw

        t = nw.col(self.time)
        if self.kind == "tick" and self.epoch is not None:
            return (nw.col(self.epoch) - self.origin_us()) // self.step
        if self.kind == "tick":  # microseconds since the origin from the date's parts
            y, m, d = t.dt.year().cast(nw.Int64), t.dt.month().cast(nw.Int64), t.dt.day().cast(nw.Int64)
            yy = y - nw.when(m <= 2).then(nw.lit(1)).otherwise(nw.lit(0))
            era = yy // 400
            yoe = yy - era * 400
            doy = (153 * (m + nw.when(m > 2).then(nw.lit(-3)).otherwise(nw.lit(9))) + 2) // 5 + d - 1
            days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468  # days since 1970-01-01
            us = (days * 86_400 + t.dt.hour().cast(nw.Int64) * 3600 + t.dt.minute().cast(nw.Int64) * 60
                  + t.dt.second().cast(nw.Int64)) * 1_000_000 + t.dt.microsecond().cast(nw.Int64)
            return (us - self.origin_us()) // self.step
        o = self.origin.year * 12 + self.origin.month - 1
        return (t.dt.year().cast(nw.Int64) * 12 + t.dt.month().cast(nw.Int64) - 1 - o) // self.step

    def of(self, values: Any) -> np.ndarray:
        ts = pd.to_datetime(pd.Series(values))
        if ts.dt.tz is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        if self.kind == "tick":
            us = (ts - pd.Timestamp(self.origin)).to_numpy().astype("timedelta64[us]").astype(np.int64)
            return us // self.step
        o = self.origin.year * 12 + self.origin.month - 1
        return ((ts.dt.year * 12 + ts.dt.month - 1 - o) // self.step).to_numpy(np.int64)
S_SCORE, S_BRIER, S_LOG, LO, HI = PREFIX + "s1", PREFIX + "s2", PREFIX + "s3", PREFIX + "lo", PREFIX + "hi"
SCORE = PREFIX + "score"
FIX_SCORE = float(1 << 24)  # score and Brier terms are summed as round(x * 2**24): each row off by at most 3e-8
FIX_LOG = float(1 << 24)  # log-loss terms likewise
#: fixed-point sums of non-negative terms are exact in doubles while the total stays below this
MAX_EXACT_SUM = float(1 << 53)
EPS = float(np.finfo(np.float64).eps)  # scikit-learn's log-loss clipping, as in memory
#: ``key_counts`` reads at most this many key combinations (more means a column has far too many values)
KEY_CAP = 100_000


@dataclass(frozen=True)
class ScanPlan:
    """What the grouped scan computes. ``predictions``/``scores`` are the user's columns (None: absent);
    ``positive`` is the positive label value the engine compares the label with."""

    label: str
    protected: tuple[str, ...]
    positive: Any
    predictions: str | None
    scores: str | None
    threshold: float
    buckets: int
    n_cal: int
    probability: bool = True
    window: WindowKey | None = None  # a monitor's time window: one more key of the scan
    missing_labels: bool = False  # rows without a label are kept (a monitor's late labels)
    classes: bool = False  # a multiclass audit: the prediction key holds the predicted class, not a 0/1 decision

    @property
    def has_scores(self) -> bool:
        return self.scores is not None

    def keys(self) -> list[str]:
        return ([WIN] if self.window is not None else []) + [*self.protected, self.label, PRED] + \
            ([BUCKET, CAL] if self.has_scores else [])


def key_counts(frame: Any, plan: ScanPlan) -> pd.DataFrame:
    """Rows per combination of protected attributes, label and prediction column (at most ``KEY_CAP + 1``)."""
    import narwhals as nw

    keys = [*plan.protected, plan.label]
    lf = frame
    if plan.predictions is not None:
        lf = lf.with_columns(nw.col(plan.predictions).alias(PRED))
        keys.append(PRED)
    out = lf.group_by(*keys).agg(nw.len().alias(N)).head(KEY_CAP + 1)
    return _to_pandas(out)


def _to_pandas(lf: Any) -> pd.DataFrame:
    import narwhals as nw

    if isinstance(lf, nw.LazyFrame):
        native = lf.to_native()
        if _is_duckdb_relation(native) and hasattr(native, "materialize"):
            # run the query where DuckDB answers Ctrl-C at once (its Arrow export waits for the end), then convert
            try:
                lf = nw.from_native(native.materialize())
            except Exception as exc:
                _reraise_interrupt(exc)
                raise
        df = lf.collect()
    else:
        df = lf
    out = df.to_pandas()
    for col in out.columns:  # DuckDB returns DECIMAL values (a DECIMAL score's range) as Decimal objects
        if out[col].dtype == object and len(out) and type(out[col].iloc[0]).__name__ == "Decimal":
            out[col] = out[col].map(int).astype(np.int64)
    return out


def _reraise_interrupt(exc: Exception) -> None:
    """DuckDB reports a cancelled query as an error (InterruptException, or "Query interrupted"): raise it as the
    KeyboardInterrupt it stands for."""
    if "interrupt" in str(exc).lower():
        raise KeyboardInterrupt from None


def _is_duckdb_relation(native: Any) -> bool:
    return (type(native).__module__ or "").startswith(("duckdb", "_duckdb")) and \
        type(native).__name__ == "DuckDBPyRelation"


def _cell_frame(lf: Any, plan: ScanPlan, score: str | None, pred: Any) -> Any:
    """The grouped scan of ``lf`` as a narwhals LazyFrame (not yet run).

    Written for speed on two cores: no per-expression guards. A NaN, null or infinite score shows up in the
    cells (a NaN or null bucket, an infinite range) and is refused after the scan; buckets stay floating point
    until then (a cast of NaN would fail inside the engine). The fixed-point terms are integers held in doubles,
    so the engine's double sums are exact (below 2**53) in any order."""
    import narwhals as nw

    cols: dict[str, Any] = {PRED: pred}
    aggs = [nw.len().alias(N)]
    if score is not None:
        s = nw.col(score)
        k = plan.buckets
        cols[BUCKET] = nw.min_horizontal((s * k).floor(), nw.lit(float(k - 1)))
        aggs += [s.min().alias(LO), s.max().alias(HI)]
        if plan.probability:
            e = plan.n_cal
            cols[CAL] = nw.max_horizontal((s * e).ceil(), nw.lit(1.0)) - 1.0
            is_pos = nw.col(plan.label) == plan.positive
            y = is_pos.cast(nw.Float64)
            # the probability given to the actual label, clipped like scikit-learn's log_loss
            q = nw.max_horizontal(nw.min_horizontal(nw.when(is_pos).then(s).otherwise(1.0 - s), nw.lit(1.0 - EPS)),
                                  nw.lit(EPS))
            cols[S_SCORE] = (s * FIX_SCORE + 0.5).floor()
            cols[S_BRIER] = ((s - y) * (s - y) * FIX_SCORE + 0.5).floor()
            cols[S_LOG] = (q.log() * -FIX_LOG + 0.5).floor()
            aggs += [nw.col(c).sum().alias(c) for c in (S_SCORE, S_BRIER, S_LOG)]
        else:
            cols[CAL] = nw.lit(0.0)
    if plan.window is not None:
        cols[WIN] = plan.window.expr()
    keys = plan.keys() if score is not None else [k for k in plan.keys() if k not in (BUCKET, CAL)]
    return lf.with_columns(**cols).group_by(*keys).agg(*aggs)


def pushdown_cells(frame: Any, plan: ScanPlan, duckdb_con: Any = None, progress: bool = False) -> pd.DataFrame:
    """Cells of the data computed by the engine in one grouped scan (precomputed predictions and/or scores);
    with ``duckdb_con`` (a connection of ours running the scan), Ctrl-C interrupts the scan at once and, with
    ``progress``, a bar follows DuckDB's own progress."""
    import narwhals as nw

    if plan.predictions is not None:
        pred = nw.col(plan.predictions)
    else:
        pred = nw.col(plan.scores) >= plan.threshold
    query = _cell_frame(frame, plan, plan.scores, pred)
    if duckdb_con is None:
        return _to_pandas(query)
    return run_duckdb(duckdb_con, lambda: _to_pandas(query), progress)


def run_duckdb(con: Any, run: Callable[[], Any], progress: bool = False) -> Any:
    """Run ``run`` (a query on ``con``) on the calling thread; Ctrl-C interrupts it at once and raises
    KeyboardInterrupt. (DuckDB looks for Ctrl-C only between its tasks, which for a grouped scan of a large file
    is the end; and a query run on another thread dies inside DuckDB on a SIGINT.) A watcher thread reads the
    signal from Python's wakeup file descriptor, written by the C-level handler the moment the signal arrives,
    and calls ``con.interrupt()``. With ``progress`` a bar follows the percentage DuckDB reports."""
    import os
    import signal
    import threading

    stop = threading.Event()
    helpers: list[threading.Thread] = []
    wake = None
    if threading.current_thread() is threading.main_thread():
        r, w = os.pipe()
        os.set_blocking(w, False)
        try:
            previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except (ValueError, OSError):  # not available here: DuckDB's own check remains
            os.close(r)
            os.close(w)
        else:
            wake = (r, w, previous)

            def watch() -> None:
                while True:
                    try:
                        data = os.read(r, 64)
                    except OSError:
                        return
                    if stop.is_set() or not data:
                        return
                    if previous >= 0:  # pass the signal on to whoever listened before (an event loop)
                        try:
                            os.write(previous, data)
                        except OSError:
                            pass
                    if signal.SIGINT in data:
                        try:
                            con.interrupt()
                        except Exception:  # noqa: BLE001 - nothing to interrupt
                            pass

            helpers.append(threading.Thread(target=watch, daemon=True))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = false")
        bar = tqdm(total=100, desc="scanning", unit="%", leave=False, bar_format="{l_bar}{bar}| {elapsed}")

        def follow() -> None:
            while not stop.wait(0.25):
                try:
                    done = con.query_progress()
                except Exception:  # noqa: BLE001 - the bar is best effort
                    return
                if done > bar.n:
                    bar.update(min(done, 100.0) - bar.n)

        helpers.append(threading.Thread(target=follow, daemon=True))
    for h in helpers:
        h.start()
    try:
        return run()
    except Exception as exc:
        _reraise_interrupt(exc)
        raise
    finally:
        stop.set()
        if wake is not None:
            r, w, previous = wake
            signal.set_wakeup_fd(previous)
            try:
                os.write(w, b"\0")  # wake the watcher so that it ends
            except OSError:
                pass
        for h in helpers:
            h.join()
        if wake is not None:
            os.close(wake[0])
            os.close(wake[1])
        if bar is not None:
            bar.close()


def combine(parts: list[pd.DataFrame], plan: ScanPlan) -> pd.DataFrame:
    """Cells of several scans of disjoint rows added up (sums add, ranges widen)."""
    if not parts:
        return pd.DataFrame(columns=plan.keys() + [N])
    if len(parts) == 1:
        return parts[0]
    df = pd.concat(parts, ignore_index=True)
    keys = [k for k in plan.keys() if k in df.columns]
    how = {c: ("min" if c == LO else "max" if c == HI else "sum") for c in df.columns if c not in keys}
    return df.groupby(keys, dropna=False, sort=False, observed=True).agg(how).reset_index()


def canonical_missing(batch: pd.DataFrame) -> pd.DataFrame:
    """Missing values of text columns as NaN, as pandas reads them from a CSV file: Arrow batches turn a NULL into
    None, which some estimators (scikit-learn's imputers before 1.5) would take for a category of its own."""
    out = None
    for col in batch.columns:
        values = batch[col]
        if values.dtype == object and values.isna().any():
            out = batch.copy() if out is None else out
            out[col] = values.where(values.notna(), np.nan)
    return batch if out is None else out


def batch_cells(batch: pd.DataFrame, plan: ScanPlan, predict: Callable[[pd.DataFrame], tuple]) -> pd.DataFrame:
    """Cells of one batch of rows scored by the model (``predict`` returns 0/1 predictions, scores, kind): the
    same cells, with the same formulas, as the pushed-down scan, in numpy and one pandas group-by."""
    preds, scores, kind = predict(canonical_missing(batch))
    cols: dict[str, Any] = {c: batch[c].to_numpy() for c in dict.fromkeys([*plan.protected, plan.label])}
    cols[PRED] = np.asarray(preds) if plan.classes else np.asarray(preds).astype(bool)
    how: dict[str, str] = {}
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        probability = kind == "probability"
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            src = s if probability else 1.0 / (1.0 + np.exp(-s))  # decision scores: buckets of their logistic
            k = plan.buckets
            cols[BUCKET] = np.minimum(np.floor(src * k), float(k - 1))
            if probability:
                cols[CAL] = np.maximum(np.ceil(s * plan.n_cal), 1.0) - 1.0
                is_pos = batch[plan.label].to_numpy() == plan.positive
                y = is_pos.astype(np.float64)
                q = np.maximum(np.minimum(np.where(is_pos, s, 1.0 - s), 1.0 - EPS), EPS)
                cols[S_SCORE] = np.floor(s * FIX_SCORE + 0.5)
                cols[S_BRIER] = np.floor((s - y) * (s - y) * FIX_SCORE + 0.5)
                cols[S_LOG] = np.floor(np.log(q) * -FIX_LOG + 0.5)
                how.update({S_SCORE: "sum", S_BRIER: "sum", S_LOG: "sum"})
            else:
                cols[CAL] = np.zeros(len(s))
        how[LO], how[HI] = "min", "max"
        df = pd.DataFrame(cols)
        df[LO] = s
        df[HI] = s
    else:
        df = pd.DataFrame(cols)
    if plan.window is not None:
        df[WIN] = plan.window.of(batch[plan.window.time])
    df[N] = 1
    how[N] = "sum"
    keys = list(dict.fromkeys(([WIN] if plan.window is not None else []) + [*plan.protected, plan.label, PRED]
                              + ([BUCKET, CAL] if scores is not None else [])))
    return df.groupby(keys, dropna=False, sort=False, observed=True).agg(how).reset_index()


def arrow_batches(native: Any, kind: str, columns: list[str], rows: int) -> Iterator[pd.DataFrame]:
    """Batches of rows as pandas frames, never the whole table: Arrow record batches from DuckDB, streamed batches
    from Polars."""
    if kind == "duckdb":
        rel = native.select(*[_quote(c) for c in columns])
        reader = rel.to_arrow_reader(rows) if hasattr(rel, "to_arrow_reader") else rel.fetch_record_batch(rows)
        for rb in reader:
            yield rb.to_pandas()
    elif kind == "polars":
        if not hasattr(native, "collect_batches"):
            import polars

            raise InputError(f"applying a model to a Polars LazyFrame needs LazyFrame.collect_batches, which polars "
                             f"{polars.__version__} lacks: upgrade polars, or pass precomputed scores/predictions "
                             "columns.", code="missing_dependency")
        for df in native.select(columns).collect_batches(chunk_size=rows):
            yield df.to_pandas()
    else:  # pragma: no cover - Spark goes through mapInPandas
        raise ValueError(kind)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def model_cells(source: Any, plan: ScanPlan, predict: Callable[[pd.DataFrame], tuple], features: list[str],
                rows_per_batch: int, total: int, progress: bool) -> pd.DataFrame:
    """Cells of the data with the model applied batch by batch where the data lives (Arrow batches from DuckDB,
    ``mapInPandas`` on Spark); the table is never collected."""
    columns = list(dict.fromkeys([*features, *plan.protected, plan.label]
                                 + ([plan.window.time] if plan.window is not None else [])))
    if source.kind == "spark":
        return _spark_model_cells(source.native, plan, predict, columns)
    parts: list[pd.DataFrame] = []
    bar = _bar(total, progress)
    pending = 0
    for batch in arrow_batches(source.native, source.kind, columns, rows_per_batch):
        parts.append(batch_cells(batch, plan, predict))
        pending += len(batch)
        if bar is not None:
            bar.update(len(batch))
        if len(parts) >= 16:  # keep the partial tables small
            parts = [combine(parts, plan)]
    if bar is not None:
        bar.close()
    return combine(parts, plan)


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc="scoring", leave=False)


def _spark_model_cells(sdf: Any, plan: ScanPlan, predict: Callable[[pd.DataFrame], tuple], columns: list[str]
                       ) -> pd.DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = {f.name: f for f in sdf.schema.fields}
    out_fields = [fields[c] for c in dict.fromkeys([*plan.protected, plan.label])]
    if plan.window is not None:
        out_fields.insert(0, T.StructField(WIN, T.LongType()))
    out_fields.append(T.StructField(PRED, fields[plan.label].dataType if plan.classes else T.BooleanType()))
    if plan.has_scores:
        out_fields += [T.StructField(BUCKET, T.DoubleType()), T.StructField(CAL, T.DoubleType())]
    out_fields.append(T.StructField(N, T.LongType()))
    if plan.has_scores:
        out_fields += [T.StructField(LO, T.DoubleType()), T.StructField(HI, T.DoubleType())]
        out_fields += [T.StructField(c, T.DoubleType()) for c in (S_SCORE, S_BRIER, S_LOG)]
    schema = T.StructType(out_fields)
    names = [f.name for f in out_fields]

    def per_partition(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            cells = batch_cells(batch, plan, predict)
            for c in names:
                if c not in cells.columns:
                    cells[c] = 0
            yield cells[names]

    mapped = sdf.select(*columns).mapInPandas(per_partition, schema)
    keys = plan.keys()
    aggs = [F.sum(N).alias(N)]
    if plan.has_scores:
        aggs += [F.min(LO).alias(LO), F.max(HI).alias(HI)] + [F.sum(c).alias(c) for c in (S_SCORE, S_BRIER, S_LOG)]
    try:
        return _spark_to_pandas(mapped.groupBy(*keys).agg(*aggs))
    except Exception as exc:
        if type(exc).__name__ != "PythonException":  # Spark's own errors pass through
            raise
        from ..exceptions import ModelError

        raise ModelError(f"the model failed inside a Spark executor: {worker_error(str(exc))}",
                         code="model_raised") from None


def worker_error(text: str) -> str:
    """The error a Python worker raised, from the traceback Spark hands back: the audit's own ModelError message
    when there is one, else the last exception line."""
    import re

    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    found = [m for ln in lines if (m := re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit)): (.*)$", ln))]
    model = [m for m in found if m.group(1).endswith("ModelError")]
    if model:
        return " ".join(model[-1].group(2).split())[:500]
    if found:
        name = found[-1].group(1).rsplit(".", 1)[-1]
        return f"{name}: {' '.join(found[-1].group(2).split())[:500]}"
    return " ".join(lines[-1:])[:500] if lines else "unknown error"


def _spark_to_pandas(sdf: Any) -> pd.DataFrame:
    rows = sdf.collect()
    return pd.DataFrame([r.asDict() for r in rows], columns=sdf.columns)


def count_bad_scores(frame: Any, score: str) -> int:
    """Rows whose score is missing, NaN or infinite (a second, small query, run only to word the error)."""
    import narwhals as nw

    s = nw.col(score)
    out = _to_pandas(frame.filter(s.is_null() | ~s.is_finite()).select(nw.len().alias(N)))
    return int(out[N].iloc[0])


def refuse_bad_cells(cells: pd.DataFrame, plan: ScanPlan, what: str = "data", frame: Any = None) -> None:
    """Errors the engine's tables reveal, each naming the column, with counts computed by the engine (``frame``:
    the scanned data, to count bad scores exactly when they share cells with good ones)."""
    if plan.has_scores and len(cells):
        lo = pd.to_numeric(cells[LO], errors="coerce").to_numpy(dtype=float)
        hi = pd.to_numeric(cells[HI], errors="coerce").to_numpy(dtype=float)
        bucket = pd.to_numeric(cells[BUCKET], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(bucket) & np.isfinite(lo) & np.isfinite(hi))
        if plan.probability:
            bad |= ~np.isfinite(pd.to_numeric(cells[S_LOG], errors="coerce").to_numpy(dtype=float))
        if bad.any():
            col = plan.scores or "the model's scores"
            count = count_bad_scores(frame, plan.scores) if frame is not None else int(cells.loc[bad, N].sum())
            raise InputError(f"scores column {col!r} has {count:,} missing, NaN or infinite value(s) in {what}. Scores "
                             "must be finite probabilities of the positive label.", code="nonfinite_scores",
                             column=plan.scores)
        lo, hi = float(lo.min()), float(hi.max())
        if plan.probability and (lo < 0 or hi > 1):
            raise InputError(f"scores column {plan.scores!r} must hold probabilities of the positive label in [0, 1]; "
                             f"found values from {lo!r} to {hi!r}. Pass predict_proba()[:, positive column], or give "
                             "predictions instead.", code="scores_out_of_range", column=plan.scores)


def refuse_missing_keys(keys: pd.DataFrame, plan: ScanPlan, what: str = "data") -> None:
    """Missing values in the label, protected or prediction columns, counted by the engine."""
    checks = [*([(plan.label, "label", "missing_values")] if not plan.missing_labels else []),
              *((p, "protected", "missing_values") for p in plan.protected)]
    if plan.predictions is not None:
        checks.append((PRED, "predictions", "missing_predictions"))
    for col, role, code in checks:
        miss = keys[col].isna()
        if miss.any():
            count = int(keys.loc[miss, N].sum())
            name = plan.predictions if col == PRED else col
            extra = (" (for a protected attribute, an explicit 'unknown' category is usually better than dropping)"
                     if role == "protected" else "")
            raise InputError(f"{role} column {name!r} has {count:,} missing value(s) (NULL/NaN) in {what}. Drop or "
                             f"fill those rows before auditing{extra}.", code=code, column=str(name))


def integer_cells(cells: pd.DataFrame, plan: ScanPlan) -> pd.DataFrame:
    """Checked cells with integer buckets, calibration bins and fixed-point sums (exact below 2**53)."""
    out = cells.copy()
    out[N] = out[N].astype(np.int64)
    if plan.has_scores:
        out[BUCKET] = out[BUCKET].astype(np.int64)
        out[CAL] = out[CAL].astype(np.int64)
        if plan.probability:
            for c in (S_SCORE, S_BRIER, S_LOG):
                out[c] = out[c].astype(np.float64).astype(np.int64)
        if plan.probability and len(out):
            big = max(float(cells[c].max()) for c in (S_SCORE, S_BRIER, S_LOG))
            if big >= MAX_EXACT_SUM:  # non-negative terms: every partial sum was below the total, hence exact
                raise InputError(f"one score bucket of one group holds {int(out[N].max()):,} rows, too many for its "
                                 "fixed-point score sums to stay exact; raise score_buckets.", code="cell_too_large")
    return out
