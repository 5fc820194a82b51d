"""The audit context of data an engine scans: key check, one grouped scan (or the model batch by batch), the
cells validated like in-memory rows, then the same context, modules and result as in memory."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .._context import AuditContext, build_context
from .._model import ModelOutput, _predict_fn, describe, model_fingerprint
from .._validation import TOO_MANY_GROUPS, _require_column, validate_inputs
from ..config import AuditConfig
from ..exceptions import InputError
from ..results import Section, Table
from . import scan
from .sources import Source
from .tables import CellScoreStatistics, cell_arrays

BOUND_COLUMNS = ("attribute", "group", "metric", "value", "max_error")
#: rows per batch when the model is applied where the data lives
BATCH_ROWS = 200_000


@dataclass(frozen=True)
class ScaledData:
    """What the scan produced: the context (each input row is a cell), its section, the plan and the source."""

    ctx: AuditContext
    section: Section
    plan: scan.ScanPlan
    model: ModelOutput
    cells: pd.DataFrame
    key_counts: pd.DataFrame


def _column_arg(value: Any, what: str, source: Source) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be a column name when the data is scanned by an engine ({source.description}); "
                         f"got {type(value).__name__}. Add the {what} as a column of the table.", code="bad_argument")
    _require_column(pd.DataFrame(columns=list(source.columns)), value, what)
    return value


def _too_many(frame: Any, plan: scan.ScanPlan, cfg: AuditConfig) -> InputError:
    """The key check hit its cap: find which column has too many values."""
    import narwhals as nw

    cols = [*plan.protected, plan.label] + ([plan.predictions] if plan.predictions else [])
    counts = scan._to_pandas(frame.select(*[nw.col(c).n_unique().alias(c) for c in dict.fromkeys(cols)]))
    for c in plan.protected:
        if int(counts[c].iloc[0]) > cfg.max_groups:
            return InputError(TOO_MANY_GROUPS.format(name=c, count=int(counts[c].iloc[0]), max_groups=cfg.max_groups),
                              code="too_many_groups", column=c)
    if int(counts[plan.label].iloc[0]) > 2:
        return InputError(f"label column {plan.label!r} has {int(counts[plan.label].iloc[0]):,} distinct values; a "
                          "binary classifier audit needs exactly two. Map the label to two classes first.",
                          code="too_many_labels", column=plan.label)
    return InputError(f"the protected columns {list(plan.protected)} have more than {scan.KEY_CAP:,} combinations; "
                      "bin them, or audit fewer at once.", code="too_many_groups")


def scaled_data(source: Source, *, label: Any, positive_label: Any, favorable: bool, protected: Any,
                reference: dict[str, Any] | None, features: Sequence[str] | None, model: Any, predictions: Any,
                scores: Any, cfg: AuditConfig, progress: bool | None, what: str = "data") -> ScaledData:
    t0 = time.perf_counter()
    frame = source.frame
    label = _column_arg(label, "label", source)
    if isinstance(protected, str):
        protected = [protected]
    if not isinstance(protected, (list, tuple)) or not protected or not all(isinstance(p, str) for p in protected):
        raise InputError(f"protected must be a non-empty list of column names; got {protected!r}.",
                         code="bad_protected")
    for p in protected:
        _column_arg(p, "protected", source)
    predictions = _column_arg(predictions, "predictions", source)
    scores = _column_arg(scores, "scores", source)
    plan = scan.ScanPlan(label, tuple(protected), None, predictions, scores, cfg.threshold, cfg.score_buckets,
                         cfg.calibration_bins)

    # 1. the key check: rows per combination of the key columns, refused before the big scan
    keys = scan.key_counts(frame, plan)
    if len(keys) > scan.KEY_CAP:
        raise _too_many(frame, plan, cfg)
    scan.refuse_missing_keys(keys, plan, what)
    for c in protected:
        n_groups = keys[c].nunique()
        if n_groups > cfg.max_groups:
            raise InputError(TOO_MANY_GROUPS.format(name=c, count=n_groups, max_groups=cfg.max_groups),
                             code="too_many_groups", column=c)
    pre = validate_inputs(keys, label=label, positive_label=positive_label, favorable=favorable, protected=protected,
                          reference=reference, features=[], model_features=None,
                          predictions=scan.PRED if predictions else None, scores=None, config=cfg)
    plan = replace(plan, positive=pre.positive_label)
    t_keys = time.perf_counter() - t0

    # 2. the grouped scan: pushed down, or the model applied batch by batch where the data lives
    t = time.perf_counter()
    if model is None:
        cells = scan.pushdown_cells(frame, plan)
        method, kind, feats = "precomputed", ("probability" if scores else None), ()
        model_out_desc, fp = describe(None), None
    else:
        if predictions is not None or scores is not None:  # pragma: no cover - refused by run_audit
            raise InputError("pass either a model or precomputed predictions/scores, not both.",
                             code="ambiguous_predictions")
        names = getattr(model, "feature_names_in_", None)
        feats = tuple(features) if features is not None else (
            tuple(str(f) for f in names) if names is not None else tuple(c for c in source.columns if c != label))
        if isinstance(features, str):
            feats = (features,)
        for f in feats:
            _column_arg(f, "feature", source)
        label_values = [pre.positive_label] + ([pre.negative_label] if pre.negative_label is not None else [])
        method, fn, kind = _predict_fn(model, pre.positive_label, label_values, cfg.threshold)
        probe = _first_rows(source, list(feats))
        probe_preds, probe_scores = fn(probe) if len(probe) else (np.zeros(0), None)
        if method == "callable" and probe_scores is not None:
            kind = "probability"
        feat_list = list(feats)

        def predict(batch: pd.DataFrame) -> tuple:
            p, s = fn(batch.loc[:, feat_list])
            return p, s, kind

        plan = replace(plan, scores=scan.SCORE if kind is not None else None, probability=kind == "probability")
        show = bool(progress) if progress is not None else False
        cells, _ = scan.model_cells(source, plan, predict, feat_list, BATCH_ROWS, int(keys[scan.N].sum()), show)
        model_out_desc, fp = describe(model), model_fingerprint(model)
    if plan.scores is None:
        plan = replace(plan, probability=False)
    scan.refuse_bad_cells(cells, plan, what)
    t_scan = time.perf_counter() - t

    # 3. the cells validated like rows, in one canonical order
    key_cols = plan.keys()
    cells = cells.sort_values(key_cols, kind="stable", ignore_index=True)
    cells = cells[cells[scan.N] > 0].reset_index(drop=True)
    inputs = validate_inputs(cells[[c for c in dict.fromkeys(key_cols)]], label=label,
                             positive_label=pre.positive_label, favorable=favorable, protected=protected,
                             reference=reference, features=[], model_features=None, predictions=scan.PRED, scores=None,
                             config=cfg)
    n_rows = int(cells[scan.N].sum())
    fingerprint = _cells_fingerprint(cells, key_cols, label, protected)
    inputs = replace(inputs, n=n_rows, fingerprint=fingerprint, features=tuple(feats))
    probability = plan.scores is not None and plan.probability
    out = ModelOutput(inputs.predictions, np.zeros(len(cells)) if plan.scores is not None else None,
                      kind if plan.scores is not None else None, method, model_out_desc, fp, None)
    stats = CellScoreStatistics(cell_arrays(cells, inputs.y, probability), probability, cfg) if plan.scores else None
    ctx = build_context(inputs, out, cfg, weights=cells[scan.N].to_numpy(np.int64), score_statistics=stats)
    section = _section(source, ctx, stats, n_rows, len(cells), cfg, t_keys, t_scan, model is not None)
    return ScaledData(ctx, section, plan, out, cells, keys)


def _first_rows(source: Source, columns: list[str], n: int = 64) -> pd.DataFrame:
    """A few rows to learn how the model predicts (probabilities or decision scores) before the scan."""
    return scan._to_pandas(source.frame.select(*columns).head(n))


def _cells_fingerprint(cells: pd.DataFrame, keys: list[str], label: str, protected: Sequence[str]) -> str:
    """sha256 of the audited tables (the engine path's fingerprint: the cells, in canonical order)."""
    digest = hashlib.sha256(b"fairness-audit cells v1\x00")
    digest.update(repr((label, list(protected), keys)).encode("utf-8", "surrogatepass"))
    digest.update(cells.to_csv(index=False).encode("utf-8", "surrogatepass"))
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

