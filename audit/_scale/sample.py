"""Explanations and mitigation of data an engine holds: seeded samples pulled from the engine, and reweighing
weights from the engine's group x label counts.

* **Sampling.** Each row gets a uniform number from a hash of its own values and the seed (DuckDB ``hash``,
  Spark ``xxhash64``, Polars ``hash``), and is kept when that number is below its finest group's sampling
  fraction. The same data and seed give the same sample in any process; no row order is needed, and nothing
  but the sample leaves the engine.
* **Explanations** run on a sample stratified by finest group (small groups whole, every group at least
  ``MIN_PER_GROUP`` rows where it has them, the rest in proportion), each row weighted by the rows it stands
  for. Group-level facts (which group is worst off, rates) come from the full data's tables. The explanation
  intervals resample the sample's rows within strata, so they include the sampling from the full data.
* **Mitigation**: reweighing weights are computed from the engine's exact group x label counts of the training
  data and handed back as a small table and a SQL ``CASE`` expression to join or paste; the refit and the paired
  before/after re-audit run on uniform seeded samples of the training and audited data (sizes stated).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from .._context import build_context
from .._model import run_model
from .._validation import group_name, validate_inputs
from ..config import AuditConfig
from ..exceptions import InputError
from ..record.tables import Section, Table
from . import scan
from .sources import Source, open_source

U = scan.PREFIX + "u"
#: rows pulled for explanations at least, and rows per finest group where the group has them
EXPLAIN_SAMPLE_ROWS = 20_000
MIN_PER_GROUP = 500
#: rows of each of the training and audited data the reweighed refit and its re-audit use
MITIGATE_SAMPLE_ROWS = 200_000


def _quote_duckdb(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _with_uniform(source: Source, columns: list[str], seed: int) -> Any:
    """The source's narwhals frame with a column ``U`` uniform in [0, 1) from a hash of the row's values and seed."""
    import narwhals as nw

    if source.kind == "duckdb":
        cols = ", ".join(_quote_duckdb(c) for c in columns)
        rel = source.native.project(f"*, (hash({cols}, {int(seed)}::BIGINT) >> 11)::DOUBLE / 9007199254740992.0 "
                                    f"AS {U}")
        return nw.from_native(rel)
    if source.kind == "spark":
        from pyspark.sql import functions as F

        h = F.xxhash64(*[F.col(c) for c in columns], F.lit(int(seed)))
        return nw.from_native(source.native.withColumn(U, h.bitwiseAND(F.lit((1 << 53) - 1)).cast("double")
                                                       / float(1 << 53)))
    import polars as pl

    h = pl.struct([pl.col(c) for c in columns]).hash(seed=int(seed))
    return nw.from_native(source.native.with_columns(((h // 2048).cast(pl.Float64) / float(1 << 53)).alias(U)))


def _group_condition(protected: list[str], values: tuple) -> Any:
    import narwhals as nw

    cond = None
    for col, v in zip(protected, values):
        c = nw.col(col) == v
        cond = c if cond is None else cond & c
    return cond


def pull_sample(source: Source, columns: list[str], protected: list[str], strata: pd.DataFrame, fractions: np.ndarray,
                seed: int) -> pd.DataFrame:
    """Rows of the strata (raw protected values per row of ``strata``) kept with the given fractions."""
    import narwhals as nw

    lf = _with_uniform(source, columns, seed)
    terms = []
    for values, f in zip(strata[protected].itertuples(index=False, name=None), fractions):
        if f <= 0:
            continue
        # the groups exclude each other: the sum of these terms is the row's own group's fraction
        terms.append(nw.when(_group_condition(protected, values)).then(nw.lit(float(f))).otherwise(nw.lit(0.0)))
    if not terms:
        return pd.DataFrame(columns=columns)
    while len(terms) > 1:  # summed as a balanced tree: depth log2(strata), not one nested level per stratum
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    frac = terms[0]
    out = lf.filter(nw.col(U) < frac).select(*columns)
    df = scan.canonical_missing(scan._to_pandas(out))
    return df.sort_values(columns, kind="stable", ignore_index=True, na_position="last") if len(df) else df


def _strata(scaled: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """Raw protected values of every finest group and its rows in the full data (from the cells)."""
    protected = list(scaled.plan.protected)
    counts = scaled.key_counts.groupby(protected, dropna=False, sort=True)[scan.N].sum().reset_index()
    return counts[protected], counts[scan.N].to_numpy(np.int64)


def _sample_context(scaled: Any, sample: pd.DataFrame, model: Any, weights_by_group: dict[tuple, float],
                    strata_full: bool, n_bootstrap: int = 0) -> Any:
    """An in-memory context of the sample (the model applied to it), with the full data's partitions when they
    match, and each row's weight (rows of the full data it stands for)."""
    full = scaled.ctx
    inputs, cfg, plan = full.inputs, full.config, scaled.plan
    if scaled.plan.predictions is not None or (model is None and plan.scores is not None):
        preds_col = plan.predictions
        score_col = plan.scores if model is None else None
    else:
        preds_col = score_col = None
    sin = validate_inputs(sample, label=plan.label, positive_label=inputs.positive_label, favorable=inputs.favorable,
                          protected=list(plan.protected), reference=inputs.reference or None,
                          features=list(inputs.features), model_features=None,
                          predictions=preds_col, scores=score_col, config=cfg)
    if model is not None:
        labels = [inputs.positive_label] + ([inputs.negative_label] if inputs.negative_label is not None else [])
        out = run_model(model, sample.loc[:, list(sin.features)], positive=inputs.positive_label, label_values=labels,
                        threshold=cfg.threshold, seed=cfg.seed, check_rows=0)
    else:
        from .._model import ModelOutput, describe

        preds = sin.predictions if sin.predictions is not None else (sin.scores >= cfg.threshold).astype(np.int8)
        out = ModelOutput(preds, sin.scores, "probability" if sin.scores is not None else None, "precomputed",
                          describe(None), None, None)
    # the sample's own statistics need no intervals unless asked (explanations bootstrap the SHAP matrix themselves)
    ctx = replace(build_context(sin, out, replace(cfg, n_bootstrap=n_bootstrap)), config=cfg)
    keys = [tuple(group_name(v) for v in row) for row in sample[list(plan.protected)].itertuples(index=False, name=None)]
    row_w = np.array([weights_by_group[k] for k in keys], dtype=float)
    same = strata_full and ctx.finest_names == full.finest_names
    return replace(ctx, partitions=full.partitions if same else ctx.partitions, row_weights=row_w)


def _group_weights(scaled: Any, sample: pd.DataFrame, strata: pd.DataFrame, n_full: np.ndarray
                   ) -> tuple[list[tuple[str, ...]], dict[tuple[str, ...], int], dict[tuple[str, ...], float]]:
    """Per finest group (by group names): its names, the rows the sample holds, and the rows of the full data
    each sampled row stands for."""
    names = [tuple(group_name(v) for v in row) for row in strata.itertuples(index=False, name=None)]
    got = sample.groupby(list(scaled.plan.protected), dropna=False, sort=False).size()
    got_by = {tuple(group_name(v) for v in (k if isinstance(k, tuple) else (k,))): int(c) for k, c in got.items()}
    weights = {k: n / got_by[k] for k, n in zip(names, n_full) if got_by.get(k)}
    return names, got_by, weights


def _needed_columns(scaled: Any, model: Any) -> list[str]:
    plan = scaled.plan
    cols = [*scaled.ctx.inputs.features, *plan.protected, plan.label]
    if model is None:
        cols += [c for c in (plan.predictions, plan.scores) if c is not None]
    return [c for c in dict.fromkeys(cols) if not c.startswith(scan.PREFIX)]


def scaled_explanations(scaled: Any, source: Source, model: Any, ecfg: Any, strict: bool, run: Any) -> Section:
    """The explanation module (its ``run``) on a seeded sample stratified by finest group, pulled from the engine."""
    strata, n_full = _strata(scaled)
    total = int(n_full.sum())
    budget = max(EXPLAIN_SAMPLE_ROWS, 4 * max(ecfg.rows, ecfg.proxy_rows))
    target = np.minimum(n_full, np.maximum(MIN_PER_GROUP, np.ceil(budget * n_full / max(total, 1)))).astype(float)
    fractions = np.minimum(1.0, target / np.maximum(n_full, 1))
    columns = _needed_columns(scaled, model)
    sample = pull_sample(source, columns, list(scaled.plan.protected), strata, fractions, scaled.ctx.config.seed)
    if not len(sample):
        raise InputError("the explanation sample pulled from the engine is empty.", code="empty_sample")
    names, got_by, weights = _group_weights(scaled, sample, strata, n_full)
    sctx = _sample_context(scaled, sample, model, weights, all(got_by.get(k) for k in names))
    sec = run(sctx, model, ecfg, strict)
    info = dict(sec.info)
    info["sample"] = {
        "rows": int(len(sample)), "rows_in_data": total, "seed": scaled.ctx.config.seed,
        "how": ("seeded sample stratified by every combination of protected groups, pulled from the engine "
                f"({source.kind}): groups whole up to {MIN_PER_GROUP} rows, larger ones in proportion to size; "
                "each row weighted by the rows it stands for. Intervals resample the sample's rows within those "
                "strata, so they include the sampling from the full data."),
        "groups_missing": [list(k) for k in names if not got_by.get(k)]}
    return Section(sec.name, sec.tables, tuple(info.items()))


def _uniform_sample(source: Source, columns: list[str], rows: int, total: int, seed: int) -> pd.DataFrame:
    """A seeded uniform sample of about ``rows`` of the ``total`` rows (the row hash against one fraction)."""
    import narwhals as nw

    frac = min(1.0, rows / max(total, 1))
    lf = _with_uniform(source, columns, seed)
    df = scan.canonical_missing(scan._to_pandas(lf.filter(nw.col(U) < frac).select(*columns)))
    return df.sort_values(columns, kind="stable", ignore_index=True)


def weight_expression(protected: list[str], label: str, cells: pd.DataFrame, dialect: str = "duckdb") -> str:
    """A SQL ``CASE`` expression giving each row its reweighing weight, in the engine's own dialect: DuckDB (and
    standard SQL) quote identifiers with ``"`` and double a quote inside a string; Spark SQL quotes identifiers
    with backticks and escapes with a backslash. ``cells`` holds the protected values, the label value and the
    weight, one row per cell."""
    spark = dialect == "spark"

    def ident(name: str) -> str:
        return "`" + name.replace("`", "``") + "`" if spark else _quote_duckdb(name)

    def lit(v: Any) -> str:
        if isinstance(v, (bool, np.bool_)):
            return "TRUE" if v else "FALSE"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return f"CAST({float(v)!r} AS DOUBLE)" if spark else repr(float(v))
        if spark:
            return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + str(v).replace("'", "''") + "'"

    parts = ["CASE"]
    for *values, weight in cells.itertuples(index=False, name=None):
        if weight is None or not math.isfinite(weight):
            continue
        cond = " AND ".join(f"{ident(c)} = {lit(v)}" for c, v in zip([*protected, label], values))
        parts.append(f"  WHEN {cond} THEN {lit(float(weight))}")
    parts.append("END")
    return "\n".join(parts)


def scaled_mitigation(scaled: Any, source: Source, model: Any, mcfg: Any, train_data: Any, run: Any) -> Section:
    """Reweighing (the mitigation module's ``run``) of data an engine holds: exact weights from the engine's counts
    of the training data; the refit and the paired re-audit on uniform seeded samples (``MITIGATE_SAMPLE_ROWS``
    rows of each)."""
    from ..mitigation import WEIGHT_COLUMNS, weights_for

    full = scaled.ctx
    inputs, cfg = full.inputs, full.config
    attrs = list(mcfg.attributes or [a.name for a in inputs.attributes])
    seed = cfg.seed
    info_extra: dict[str, Any] = {}
    train_sample = None
    weights_table = None
    if train_data is not None:
        # the training data is scanned by the audited data's engine (a pandas frame stays in memory)
        engine = source.kind if source.kind in ("duckdb", "spark") else "auto"
        tdf, tsrc = open_source(train_data, "pandas" if isinstance(train_data, pd.DataFrame) else engine,
                                "training data")
        try:
            plan = scan.ScanPlan(inputs.label, tuple(attrs), inputs.positive_label, None, None, cfg.threshold,
                                 cfg.score_buckets, cfg.calibration_bins)
            keys = (scan.key_counts(tsrc.frame, plan) if tsrc is not None else
                    tdf.groupby([*attrs, inputs.label], dropna=False, sort=False, observed=True).size()
                    .rename(scan.N).reset_index())
            if len(keys) > scan.KEY_CAP:  # the counts were cut short: never weights from part of the data
                raise InputError(f"training data: the protected columns {attrs} and the label have more than "
                                 f"{scan.KEY_CAP:,} combinations; bin the protected columns first.",
                                 code="too_many_groups")
            scan.refuse_missing_keys(keys, plan, "training data")
            kin = validate_inputs(keys, label=inputs.label, positive_label=inputs.positive_label,
                                  favorable=inputs.favorable, protected=attrs, reference=None, features=[],
                                  model_features=None, predictions=None, scores=None,
                                  config=AuditConfig(n_bootstrap=0, max_groups=cfg.max_groups))
            names = (str(inputs.positive_label), str(inputs.negative_label))
            w = weights_for(keys, kin.y.astype(np.int64), attrs, names, counts=keys[scan.N].to_numpy())
            weights_table = Table.from_records(WEIGHT_COLUMNS, w.cells.to_dict("records"))
            per_key = pd.DataFrame({**{f"c{i}": keys[c].to_numpy() for i, c in enumerate([*attrs, inputs.label])},
                                    "w": w.weights})
            info_extra["weight_expression"] = weight_expression(attrs, inputs.label, per_key,
                                                                "spark" if source.kind == "spark" else "duckdb")
            info_extra["weight_expression_dialect"] = "Spark SQL" if source.kind == "spark" else "DuckDB SQL"
            info_extra["n_train_rows"] = int(keys[scan.N].sum())
            if tsrc is None:
                train_sample = tdf
            elif model is not None:
                tcols = [c for c in dict.fromkeys([*inputs.features, *attrs, inputs.label]) if c in tsrc.columns]
                train_sample = _uniform_sample(tsrc, tcols, MITIGATE_SAMPLE_ROWS,
                                               int(keys[scan.N].sum()), seed)
        finally:
            if tsrc is not None:
                tsrc.close()
    strata, n_full = _strata(scaled)
    total = int(n_full.sum())
    columns = _needed_columns(scaled, model)
    sample = _uniform_sample(source, columns, MITIGATE_SAMPLE_ROWS, total, seed)
    _, _, weights = _group_weights(scaled, sample, strata, n_full)
    sctx = _sample_context(scaled, sample, model, weights, False, cfg.n_bootstrap)
    sec = run(sctx, model, mcfg, train_sample)
    tables = dict(sec.tables)
    if weights_table is not None:
        tables["weights"] = weights_table
    info = dict(sec.info)
    info.update(info_extra)
    info["sample"] = {"rows": int(len(sample)), "rows_in_data": total,
                      "train_rows": None if train_sample is None else int(len(train_sample)), "seed": seed,
                      "how": (f"the refit and the paired before/after re-audit use uniform seeded samples of up to "
                              f"{MITIGATE_SAMPLE_ROWS:,} rows of the training and audited data pulled from the engine "
                              f"({source.kind}); the weights table is exact, from the engine's counts of the "
                              "training data, and weight_expression is a SQL CASE giving each row its weight.")}
    return Section(sec.name, tuple(tables.items()), tuple(info.items()))
