"""The audit context of data an engine scans: the positive label and a look at the first rows, one grouped scan
(or the model batch by batch), the cells validated like in-memory rows, then the same context, modules and result
as in memory."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .._context import AuditContext, build_context
from .._model import ModelOutput, predict_fn, describe, model_fingerprint
from .._validation import (NO_ROWS, TOO_MANY_GROUPS, check_model_arguments, infer_positive, protected_columns,
                           require_column, validate_inputs)
from ..config import AuditConfig
from ..exceptions import InputError
from ..registry import Module
from ..record.tables import Section, Table
from . import scan
from .sources import Source
from .tables import CellScoreStatistics, cell_arrays

#: rows per batch when the model is applied where the data lives
BATCH_ROWS = 200_000
#: rows whose protected values are counted before the grouped scan (too many groups is refused early)
HEAD_ROWS = 1_000_000


@dataclass(frozen=True)
class ScaledData:
    """What the scan produced: the context (each input row is a cell; its model output is the cells'), the
    ``data_source`` section, the plan, and the rows per group and label value."""

    ctx: AuditContext
    section: Section
    plan: scan.ScanPlan
    key_counts: pd.DataFrame  # rows per (protected groups, label value), from the cells


#: the data_source section's table: each score metric's bound on the error of its bucketed value
BOUND_COLUMNS = ("attribute", "group", "metric", "value", "max_error")

def _column_arg(value: Any, what: str, source: Source) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be a column name when the data is scanned by an engine ({source.description}); "
                         f"got {type(value).__name__}. Add the {what} as a column of the table.", code="bad_argument")
    require_column(pd.DataFrame(columns=list(source.columns)), value, what)
    return value


def _label_values(frame: Any, label: str, limit: int = 3) -> list[Any]:
    """Distinct label values (at most ``limit``), computed by the engine."""
    import narwhals as nw

    vals = scan._to_pandas(frame.select(nw.col(label)).unique().head(limit))[label].tolist()
    return [v.item() if isinstance(v, np.generic) else v for v in vals]


def _positive(frame: Any, label: str, positive_label: Any) -> Any:
    """The positive label the engine compares with: the argument, else 1 (or True) for a numeric (boolean)
    label, as in memory; the values it finally holds are checked on the cells."""
    import narwhals as nw

    dtype = frame.collect_schema()[label]
    if positive_label is not None:
        positive = positive_label.item() if isinstance(positive_label, np.generic) else positive_label
        text = dtype == nw.String or dtype == nw.Categorical or dtype == nw.Enum
        if text != isinstance(positive, str):  # the engine would fail to compare them: say what the label holds
            from .._validation import POSITIVE_ABSENT, as_list

            raise InputError(POSITIVE_ABSENT.format(positive=positive, name=label,
                                                    values=as_list(_label_values(frame, label, 10))),
                             code="positive_label_absent", column=label)
        return positive
    if dtype == nw.Boolean:
        return True
    if dtype.is_numeric():
        return 1
    infer_positive(_label_values(frame, label), label)  # raises: which value is positive, listing them
    return None  # pragma: no cover


def _look_ahead(frame: Any, plan: scan.ScanPlan, cfg: AuditConfig, desc: str = "the data") -> None:
    """Refuse a protected column with far too many values from the first rows, before the grouped scan would
    build millions of groups (the cells are checked exactly after the scan)."""
    import narwhals as nw

    head = frame.head(HEAD_ROWS)
    counts = scan._to_pandas(head.select(*[nw.col(c).n_unique().alias(c) for c in plan.protected]))
    for c in plan.protected:
        if pd.isna(counts[c].iloc[0]):  # some engines count the values of no rows as NULL
            raise InputError(NO_ROWS.format(what=desc), code="no_rows")
        n = int(counts[c].iloc[0])
        if n > cfg.max_groups:
            raise InputError(TOO_MANY_GROUPS.format(name=c, count=n, max_groups=cfg.max_groups).replace(
                "distinct values", f"distinct values in its first {HEAD_ROWS:,} rows"), code="too_many_groups",
                column=c)


def _check_cells(cells: pd.DataFrame, plan: scan.ScanPlan, what: str, frame: Any) -> None:
    """Missing keys and bad scores, worded with the engine's counts (too many groups and unknown label or
    prediction values are refused by ``validate_inputs`` on the cells, as for rows)."""
    scan.refuse_missing_keys(cells, plan, what)
    scan.refuse_bad_cells(cells, plan, what, frame)


@dataclass(frozen=True)
class CellScan:
    """The checked cells of one grouped scan, in canonical order, and how they were made."""

    cells: pd.DataFrame
    plan: scan.ScanPlan
    label: str
    protected: tuple[str, ...]
    features: tuple[str, ...]
    method: str
    kind: str | None
    description: str
    fingerprint: str | None
    t_keys: float
    t_scan: float


def scan_cells(source: Source, *, label: Any, positive_label: Any, protected: Any, features: Sequence[str] | None,
               model: Any, predictions: Any, scores: Any, cfg: AuditConfig, progress: bool | None,
               what: str = "data", window: Any = None, task: str = "binary") -> CellScan:
    """The one grouped scan (pushed down, or the model applied batch by batch where the data lives), its cells
    checked; with ``window`` (a monitor's :class:`scan.WindowKey`), the window is one more key and rows without a
    label are kept."""
    t0 = time.perf_counter()
    frame = source.frame
    label = _column_arg(label, "label", source)
    protected = protected_columns(protected, label, lambda name: _column_arg(name, "protected", source))
    predictions = _column_arg(predictions, "predictions", source)
    scores = _column_arg(scores, "scores", source)
    if scores is not None:
        dtype = frame.collect_schema()[scores]
        if not dtype.is_numeric():
            raise InputError(f"scores column {scores!r} holds {dtype} values, not numbers: give probabilities of the "
                             "positive label as a numeric column.", code="bad_scores", column=scores)
    classes = task == "multiclass"  # the prediction key is the predicted class; no positive label
    if classes and scores is not None:
        raise InputError("scores= on data an engine scans is for a binary audit; a multiclass audit there reads "
                         "the predicted class (predictions=) or applies the model.", code="invalid_option")
    plan = scan.ScanPlan(label, tuple(protected), None if classes else _positive(frame, label, positive_label),
                         predictions, scores, cfg.threshold, cfg.score_buckets, cfg.calibration_bins, window=window,
                         missing_labels=window is not None, classes=classes)
    _look_ahead(frame, plan, cfg, f"{what} ({source.description})")
    t_keys = time.perf_counter() - t0

    # 2. the grouped scan: pushed down, or the model applied batch by batch where the data lives
    t = time.perf_counter()
    if model is None:
        own = source.owned[0] if source.kind == "duckdb" and source.owned else None
        cells = scan.pushdown_cells(frame, plan, own, bool(progress))
        method, kind = "precomputed", ("probability" if scores else None)
        # as in memory: the features (for the proxy scan) default to every column but the label and the outputs
        feats = (tuple([features] if isinstance(features, str) else features) if features is not None else
                 tuple(c for c in source.columns if c not in (label, predictions, scores)))
        for f in feats:
            _column_arg(f, "feature", source)
        model_out_desc, fp = describe(None, predictions=predictions is not None, scores=scores is not None), None
    else:
        check_model_arguments(model, predictions, scores)  # refused by run_audit already; here for other callers
        names = getattr(model, "feature_names_in_", None)
        if features is not None:
            feats = (features,) if isinstance(features, str) else tuple(features)
        else:
            feats = tuple(str(f) for f in names) if names is not None else tuple(c for c in source.columns if c != label)
        for f in feats:
            _column_arg(f, "feature", source)
        if classes:
            from .._tasks import class_labels_fn

            method, class_fn = class_labels_fn(model)
            fn, kind = (lambda X: (class_fn(X), None)), None
        else:
            label_values = [v for v in dict.fromkeys([plan.positive, *_label_values(frame, label)]) if v is not None]
            method, fn, kind = predict_fn(model, plan.positive, label_values, cfg.threshold)
        if method == "callable" and not classes:  # a function's output kind shows only once it runs: ask it about a few rows
            probe = scan.canonical_missing(_first_rows(source, list(feats)))
            if len(probe) and fn(probe)[1] is not None:
                kind = "probability"
        feat_list = list(feats)

        def predict(batch: pd.DataFrame) -> tuple:
            p, s = fn(batch.loc[:, feat_list])
            return p, s, kind

        plan = replace(plan, scores=scan.SCORE if kind is not None else None, probability=kind == "probability")
        show = bool(progress) if progress is not None else False
        import narwhals as nw

        total = int(scan._to_pandas(frame.select(nw.len().alias("n")))["n"].iloc[0]) if show else 0
        cells = scan.model_cells(source, plan, predict, feat_list, BATCH_ROWS, total, show)
        model_out_desc, fp = describe(model), model_fingerprint(model)
    if plan.scores is None:
        plan = replace(plan, probability=False)
    if len(cells) == 0 or int(cells[scan.N].sum()) == 0:
        raise InputError(NO_ROWS.format(what=f"{what} ({source.description})"), code="no_rows")
    _check_cells(cells, plan, what, frame if model is None else None)
    cells = scan.integer_cells(cells, plan)
    if window is not None:
        cells[scan.WIN] = cells[scan.WIN].astype(np.int64)
    t_scan = time.perf_counter() - t

    # 3. the cells in one canonical order
    key_cols = plan.keys()
    cells = cells.sort_values(key_cols, kind="stable", ignore_index=True)
    cells = cells[cells[scan.N] > 0].reset_index(drop=True)
    return CellScan(cells, plan, label, tuple(protected), tuple(feats), method, kind, model_out_desc, fp, t_keys,
                    t_scan)


def scaled_data(source: Source, *, label: Any, positive_label: Any, favorable: bool, protected: Any,
                reference: dict[str, Any] | None, features: Sequence[str] | None, model: Any, predictions: Any,
                scores: Any, cfg: AuditConfig, progress: bool | None, what: str = "data") -> ScaledData:
    sc = scan_cells(source, label=label, positive_label=positive_label, protected=protected, features=features,
                    model=model, predictions=predictions, scores=scores, cfg=cfg, progress=progress, what=what)
    cells, plan, label, protected = sc.cells, sc.plan, sc.label, list(sc.protected)
    key_cols = plan.keys()
    inputs = validate_inputs(cells[[c for c in dict.fromkeys(key_cols)]], label=label,
                             positive_label=plan.positive, favorable=favorable, protected=protected,
                             reference=reference, features=[], model_features=None, predictions=scan.PRED, scores=None,
                             config=cfg)
    n_rows = int(cells[scan.N].sum())
    fingerprint = _cells_fingerprint(cells, key_cols, label, protected)
    inputs = replace(inputs, n=n_rows, fingerprint=fingerprint, features=sc.features)
    probability = plan.scores is not None and plan.probability
    out = ModelOutput(inputs.predictions, np.zeros(len(cells)) if plan.scores is not None else None,
                      sc.kind if plan.scores is not None else None, sc.method, sc.description, sc.fingerprint, None)
    stats = CellScoreStatistics(cell_arrays(cells, inputs.y, probability), probability, cfg) if plan.scores else None
    ctx = build_context(inputs, out, cfg, weights=cells[scan.N].to_numpy(np.int64), score_statistics=stats)
    section = _section(source, ctx, stats, n_rows, len(cells), cfg, sc.t_keys, sc.t_scan, model is not None)
    keys = (cells.groupby([*protected, label], dropna=False, sort=True, observed=True)[scan.N].sum().reset_index())
    return ScaledData(ctx, section, plan, keys)


def scaled_classes(source: Source, *, label: Any, protected: Any, reference: dict[str, Any] | None,
                   features: Sequence[str] | None, model: Any, predictions: Any, cfg: AuditConfig,
                   progress: bool | None, favorable_classes: Any) -> tuple[ScaledData, Any]:
    """A multiclass model's audit of data an engine holds: one grouped scan by (protected groups, label, predicted
    class), the cells validated like rows (``_tasks.validate_target``), and the class tables of the finest groups
    from the cells' counts. Counts, metrics, intervals and p-values equal the in-memory audit's (the same tables,
    the same identity-keyed resamples). Returns the scaled data and the validated target."""
    from .._tasks import validate_target

    sc = scan_cells(source, label=label, positive_label=None, protected=protected, features=features, model=model,
                    predictions=predictions, scores=None, cfg=cfg, progress=progress, task="multiclass")
    cells, plan, label, protected = sc.cells, sc.plan, sc.label, list(sc.protected)
    key_cols = plan.keys()
    frame = cells[[c for c in dict.fromkeys(key_cols)]]
    target = validate_target(frame, task="multiclass", label=label, model=model, predictions=scan.PRED, scores=None,
                             favorable=True, favorable_classes=favorable_classes)
    inputs = validate_inputs(frame, label=label, positive_label=None, favorable=True, protected=protected,
                             reference=reference, features=[], model_features=None, predictions=scan.PRED,
                             scores=None, config=cfg, target=target)
    n_rows = int(cells[scan.N].sum())
    inputs = replace(inputs, n=n_rows, fingerprint=_cells_fingerprint(cells, key_cols, label, protected),
                     features=sc.features)
    binary = np.isin(target.predictions, target.favorable).astype(np.int8) if target.favorable \
        else np.zeros(len(cells), dtype=np.int8)
    out = ModelOutput(binary, None, None, sc.method, sc.description, sc.fingerprint, None, values=target.predictions)
    from ..stats.classes import ClassTable

    stat = ClassTable(target.values, target.predictions, len(target.classes))
    ctx = build_context(inputs, out, cfg, weights=cells[scan.N].to_numpy(np.int64), statistics=(stat,))
    section = _section(source, ctx, None, n_rows, len(cells), cfg, sc.t_keys, sc.t_scan, model is not None)
    keys = (cells.groupby([*protected, label], dropna=False, sort=True, observed=True)[scan.N].sum().reset_index())
    return ScaledData(ctx, section, plan, keys), target


def scaled_regression(source: Source, *, label: Any, protected: Any, reference: dict[str, Any] | None,
                      features: Sequence[str] | None, predictions: Any, cfg: AuditConfig, favorable: Any,
                      scoring_cut: float | None) -> tuple[ScaledData, Any, Any]:
    """A regression model's audit of data an engine holds, from its predictions column (``_scale/regression.py``):
    the scaled data, the validated target and the statistic."""
    import narwhals as nw

    from .._tasks import Target
    from .regression import BUCKET, N as RN, CellRegressionSums, scan_regression

    t0 = time.perf_counter()
    frame = source.frame
    label = _column_arg(label, "label", source)
    protected = protected_columns(protected, label, lambda name: _column_arg(name, "protected", source))
    prediction = _column_arg(predictions, "predictions", source)
    schema = frame.collect_schema()
    for col, what in ((label, "label"), (prediction, "predictions")):
        if not schema[col].is_numeric() or schema[col] == nw.Boolean:
            raise InputError(f"{what} column {col!r} holds {schema[col]} values: a regression audit needs numbers. "
                             "Convert it, or audit a classifier with task='binary' or 'multiclass'.",
                             code="not_numeric", column=col)
    direction = {True: "higher", False: "lower"}.get(favorable, favorable) if isinstance(favorable, bool) \
        else favorable
    if direction not in ("higher", "lower"):
        from ..exceptions import ConfigError

        raise ConfigError(f"favorable={favorable!r} is invalid for a regression audit: give 'higher' (a higher "
                          "prediction helps the person) or 'lower' (it harms them).", code="invalid_option")
    plan = scan.ScanPlan(label, tuple(protected), None, prediction, None, cfg.threshold, cfg.score_buckets,
                         cfg.calibration_bins)
    _look_ahead(frame, plan, cfg, f"data ({source.description})")
    t_keys = time.perf_counter() - t0
    t = time.perf_counter()
    rc = scan_regression(source, label=label, protected=protected, prediction=prediction, cfg=cfg, cut=scoring_cut)
    t_scan = time.perf_counter() - t
    cells = rc.cells
    frame_cells = cells[list(protected)].assign(**{label: 0.0})
    target = Target("regression", np.zeros(len(cells)), np.zeros(len(cells), dtype=np.int8), direction=direction)
    inputs = validate_inputs(frame_cells, label=label, positive_label=None, favorable=direction == "higher",
                             protected=protected, reference=reference, features=[], model_features=None,
                             predictions=None, scores=None, config=cfg, target=target)
    feats = (tuple([features] if isinstance(features, str) else features) if features is not None else
             tuple(c for c in source.columns if c not in (label, prediction)))
    inputs = replace(inputs, n=rc.bounds.n, features=feats,
                     fingerprint=_cells_fingerprint(cells, [*protected, BUCKET], label, protected))
    out = ModelOutput(np.zeros(len(cells), dtype=np.int8), None, None, "precomputed",
                      describe(None, predictions=True), None, None)
    stat = CellRegressionSums(rc, protected, label, prediction)
    ctx = build_context(inputs, out, cfg, weights=cells[RN].to_numpy(np.int64), statistics=(stat,))
    base = _section(source, ctx, None, rc.bounds.n, len(cells), cfg, t_keys, t_scan, False)
    section = Section("data_source", base.tables, base.info + (
        ("prediction_buckets", rc.buckets), ("scoring_cut", rc.bounds.cut),
        ("regression_sums", "fixed point: each sum within rows / 2**53 of its bound")))
    keys = cells.groupby(list(protected), dropna=False, sort=True, observed=True)[RN].sum().reset_index()
    return ScaledData(ctx, section, plan, keys), target, stat


def _first_rows(source: Source, columns: list[str], n: int = 64) -> pd.DataFrame:
    """A few rows to learn how the model predicts (probabilities or decision scores) before the scan."""
    return scan._to_pandas(source.frame.select(*columns).head(n))


def _cells_fingerprint(cells: pd.DataFrame, keys: list[str], label: str, protected: Sequence[str]) -> str:
    """sha256 of the audited tables (the engine path's fingerprint: the cells, in canonical order)."""
    digest = hashlib.sha256(b"fairness-audit cells v1\x00")
    digest.update(repr((label, list(protected), keys, list(cells.columns))).encode("utf-8", "surrogatepass"))
    for col in cells.columns:  # column by column: a hash per value (pandas' fixed-key hash), in canonical order
        values = cells[col]
        if values.dtype == object or str(values.dtype) in ("str", "string"):
            values = values.map(lambda v: repr(v))
        digest.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _section(source: Source, ctx: AuditContext, stats: CellScoreStatistics | None, n_rows: int, n_cells: int,
             cfg: AuditConfig, t_keys: float, t_scan: float, model_applied: bool) -> Section:
    rows = []
    worst = {"roc_auc": 0.0, "average_precision": 0.0}
    if stats is not None and stats.errors:
        offset = 0
        for part in ctx.partitions:
            for g, group in enumerate(part.groups):
                for metric in ("roc_auc", "average_precision"):
                    err = float(stats.errors[metric][offset + g])
                    value = float(part.score_point[metric][g]) if metric in part.score_point else float("nan")
                    if np.isfinite(err):
                        worst[metric] = max(worst[metric], err)
                    rows.append({"attribute": part.attribute, "group": group, "metric": metric,
                                 "value": value if np.isfinite(value) else None,
                                 "max_error": err if np.isfinite(err) else None})
            offset += len(part.groups)
    info = [("engine", source.kind), ("source", source.description), ("rows", n_rows), ("cells", n_cells),
            ("score_buckets", cfg.score_buckets if stats is not None else None),
            ("model_applied_in_batches", model_applied),
            ("scan_seconds", round(t_keys + t_scan, 3)),
            ("roc_auc_max_error", worst["roc_auc"] if stats is not None else None),
            ("average_precision_max_error", worst["average_precision"] if stats is not None else None),
            ("exact_rank_metrics", stats is not None and worst["roc_auc"] == 0 and worst["average_precision"] == 0)]
    return Section("data_source", tables=(("score_error_bounds", Table.from_records(BOUND_COLUMNS, rows)),),
                   info=tuple(info))



#: the engine audit's account of the scan (engine, rows, buckets, error bounds of AUC and average precision)
MODULE = Module(name="data_source", wanted=lambda env: env.scaled is not None, run_engine=lambda env: env.scaled.section,
                tasks=("binary", "multiclass", "regression"),
                failure="raise", timed=False, tables={"score_error_bounds": BOUND_COLUMNS},
                kinds={"value": "float", "max_error": "float"})
