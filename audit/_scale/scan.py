"""The engine's two scans, written once as narwhals expressions (DuckDB, Spark, Polars and, for batches of a
model's predictions, pandas run the same ones).

1. ``key_counts``: rows per combination of the key columns (protected attributes, label, prediction column),
   capped, so bad keys (missing values, too many groups, a third label value) are refused before the big scan
   and the big scan can never explode into millions of groups.
2. ``cells``: one grouped scan by (protected attributes, label, prediction, score bucket, calibration bin)
   giving rows, score sums and the score range of every cell.

Score sums are fixed-point integers (``round(x * 2**32)``; log-loss terms ``* 2**26``): integer sums do not
depend on the order an engine adds rows in, so DuckDB, Spark and a rerun with other partitions give identical
tables, hence identical results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from ..exceptions import InputError

PREFIX = "_fa_"
PRED, BUCKET, CAL, N = PREFIX + "pred", PREFIX + "b", PREFIX + "cal", PREFIX + "n"
S_SCORE, S_BRIER, S_LOG, LO, HI = PREFIX + "s1", PREFIX + "s2", PREFIX + "s3", PREFIX + "lo", PREFIX + "hi"
SCORE, BUCKET_SOURCE = PREFIX + "score", PREFIX + "bsrc"
FIX_SCORE = float(1 << 32)  # score and Brier terms are summed as round(x * 2**32)
FIX_LOG = float(1 << 26)  # log-loss terms (at most -log(eps) = 36.04) as round(x * 2**26)
EPS = float(np.finfo(np.float64).eps)  # scikit-learn's log-loss clipping, as in memory
#: the key check reads at most this many key combinations (more means a column has far too many values)
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

    @property
    def has_scores(self) -> bool:
        return self.scores is not None

    def keys(self) -> list[str]:
        return [*self.protected, self.label, PRED] + ([BUCKET, CAL] if self.has_scores else [])


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

    df = lf.collect() if isinstance(lf, nw.LazyFrame) else lf
    out = df.to_pandas()
    for col in out.columns:  # DuckDB returns 128-bit sums as Decimal objects
        if out[col].dtype == object and len(out) and type(out[col].iloc[0]).__name__ == "Decimal":
            out[col] = out[col].map(int).astype(np.int64)
    return out


def _cell_frame(lf: Any, plan: ScanPlan, score: str | None, pred: Any, bucket_source: str | None) -> Any:
    """The grouped scan of ``lf`` as a narwhals LazyFrame (not yet run)."""
    import narwhals as nw

    cols: dict[str, Any] = {PRED: pred}
    aggs = [nw.len().alias(N)]
    if score is not None:
        s = nw.col(score)
        bad = s.is_null() | s.is_nan()
        src = nw.col(bucket_source) if bucket_source else s
        k = plan.buckets
        cols[BUCKET] = nw.when(bad).then(-1).otherwise((src * k).floor().clip(0, k - 1)).cast(nw.Int32)
        aggs += [s.min().alias(LO), s.max().alias(HI)]
        if plan.probability:
            e = plan.n_cal
            cols[CAL] = nw.when(bad).then(-1).otherwise((s * e).ceil().clip(1, e) - 1).cast(nw.Int32)
            y = (nw.col(plan.label) == plan.positive).cast(nw.Float64)
            clipped = s.clip(EPS, 1 - EPS)
            log = nw.when(nw.col(plan.label) == plan.positive).then(clipped.log()).otherwise((1 - clipped).log())
            fixed = {S_SCORE: (s * FIX_SCORE + 0.5).floor(), S_BRIER: ((s - y) * (s - y) * FIX_SCORE + 0.5).floor(),
                     S_LOG: (log * -FIX_LOG + 0.5).floor()}
            for name, expr in fixed.items():
                cols[name] = nw.when(bad).then(0).otherwise(expr).cast(nw.Int64)
                aggs.append(nw.col(name).sum().cast(nw.Int64).alias(name))
        else:
            cols[CAL] = nw.lit(0).cast(nw.Int32)
    keys = [*plan.protected, plan.label, PRED] + ([BUCKET, CAL] if score is not None else [])
    return lf.with_columns(**cols).group_by(*keys).agg(*aggs)


def pushdown_cells(frame: Any, plan: ScanPlan) -> pd.DataFrame:
    """Cells of the data computed by the engine in one grouped scan (precomputed predictions and/or scores)."""
    import narwhals as nw

    if plan.predictions is not None:
        pred = nw.col(plan.predictions)
    else:
        pred = nw.col(plan.scores) >= plan.threshold
    return _to_pandas(_cell_frame(frame, plan, plan.scores, pred, None))


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


def batch_cells(batch: pd.DataFrame, plan: ScanPlan, predict: Callable[[pd.DataFrame], tuple]) -> pd.DataFrame:
    """Cells of one batch of rows scored by the model (``predict`` returns 0/1 predictions, scores, kind): the
    same cells, with the same formulas, as the pushed-down scan, in numpy and one pandas group-by."""
    preds, scores, kind = predict(batch)
    cols: dict[str, Any] = {c: batch[c].to_numpy() for c in dict.fromkeys([*plan.protected, plan.label])}
    cols[PRED] = np.asarray(preds).astype(bool)
    how: dict[str, str] = {}
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        bad = ~np.isfinite(s)
        probability = kind == "probability"
        with np.errstate(over="ignore", invalid="ignore"):
            src = s if probability else 1.0 / (1.0 + np.exp(-s))  # decision scores: buckets of their logistic
            k = plan.buckets
            cols[BUCKET] = np.where(bad, -1, np.clip(np.floor(src * k), 0, k - 1)).astype(np.int32)
            if probability:
                e = plan.n_cal
                cols[CAL] = np.where(bad, -1, np.clip(np.ceil(s * e), 1, e) - 1).astype(np.int32)
                y = (batch[plan.label].to_numpy() == plan.positive)
                clipped = np.clip(s, EPS, 1 - EPS)
                log = np.where(y, np.log(clipped), np.log(1 - clipped))
                yf = y.astype(np.float64)
                for name, v in ((S_SCORE, np.floor(s * FIX_SCORE + 0.5)), (S_BRIER, np.floor((s - yf) * (s - yf) * FIX_SCORE + 0.5)),
                                (S_LOG, np.floor(log * -FIX_LOG + 0.5))):
                    cols[name] = np.where(bad, 0, v).astype(np.int64)
                    how[name] = "sum"
            else:
                cols[CAL] = np.zeros(len(s), dtype=np.int32)
        cols[LO] = cols[HI] = s
        how[LO], how[HI] = "min", "max"
    df = pd.DataFrame({k: v for k, v in cols.items() if k not in (LO, HI)})
    if scores is not None:
        df[LO] = cols[LO]
        df[HI] = cols[HI]
    df[N] = 1
    how[N] = "sum"
    keys = [*plan.protected, plan.label, PRED] + ([BUCKET, CAL] if scores is not None else [])
    keys = list(dict.fromkeys(keys))
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
        for df in native.select(columns).collect_batches(chunk_size=rows):
            yield df.to_pandas()
    else:  # pragma: no cover - Spark goes through mapInPandas
        raise ValueError(kind)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def model_cells(source: Any, plan: ScanPlan, predict: Callable[[pd.DataFrame], tuple], features: list[str],
                rows_per_batch: int, total: int, progress: bool) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Cells of the data with the model applied batch by batch where the data lives (Arrow batches from DuckDB,
    ``mapInPandas`` on Spark); the table is never collected. Returns the cells and facts about the model run
    (its score kind and how it predicted)."""
    columns = list(dict.fromkeys([*features, *plan.protected, plan.label]))
    facts: dict[str, Any] = {}
    if source.kind == "spark":
        return _spark_model_cells(source.native, plan, predict, columns), facts
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
    return combine(parts, plan), facts


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
    out_fields.append(T.StructField(PRED, T.BooleanType()))
    if plan.has_scores:
        out_fields += [T.StructField(BUCKET, T.IntegerType()), T.StructField(CAL, T.IntegerType())]
    out_fields.append(T.StructField(N, T.LongType()))
    if plan.has_scores:
        out_fields += [T.StructField(LO, T.DoubleType()), T.StructField(HI, T.DoubleType())]
        out_fields += [T.StructField(c, T.LongType()) for c in (S_SCORE, S_BRIER, S_LOG)]
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
    return _spark_to_pandas(mapped.groupBy(*keys).agg(*aggs))


def _spark_to_pandas(sdf: Any) -> pd.DataFrame:
    rows = sdf.collect()
    return pd.DataFrame([r.asDict() for r in rows], columns=sdf.columns)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def refuse_bad_cells(cells: pd.DataFrame, plan: ScanPlan, what: str = "data") -> None:
    """Errors the engine's tables reveal, each naming the column, with counts computed by the engine."""
    if plan.has_scores and len(cells):
        bad = cells[BUCKET] == -1
        if bad.any():
            col = plan.scores or "the model's scores"
            count = int(cells.loc[bad, N].sum())
            raise InputError(f"scores column {col!r} has {count:,} missing, NaN or infinite value(s) in {what}. Scores "
                             "must be finite probabilities of the positive label.", code="nonfinite_scores",
                             column=plan.scores)
        lo, hi = float(cells[LO].min()), float(cells[HI].max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InputError(f"scores column {plan.scores!r} has infinite value(s) in {what}. Scores must be finite "
                             "probabilities of the positive label.", code="nonfinite_scores", column=plan.scores)
        if plan.probability and (lo < 0 or hi > 1):
            raise InputError(f"scores column {plan.scores!r} must hold probabilities of the positive label in [0, 1]; "
                             f"found values from {lo!r} to {hi!r}. Pass predict_proba()[:, positive column], or give "
                             "predictions instead.", code="scores_out_of_range", column=plan.scores)


def refuse_missing_keys(keys: pd.DataFrame, plan: ScanPlan, what: str = "data") -> None:
    """Missing values in the label, protected or prediction columns, counted by the engine."""
    checks = [(plan.label, "label", "missing_values"), *((p, "protected", "missing_values") for p in plan.protected)]
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
