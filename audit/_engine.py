"""run_audit(): validate once -> predict once -> context -> independent modules -> frozen AuditResult."""

from __future__ import annotations

import threading
import datetime as _dt
import functools
import os
import time
import warnings as _warnings
from typing import Any, Sequence

from . import __version__, registry
from ._context import build_context
from ._model import ModelOutput, describe, run_model
from ._validation import check_model_arguments, check_reference, validate_inputs, validate_training
from .config import AuditConfig
from .exceptions import AuditError, ConfigError, NonDeterministicModelWarning
from .record.tables import CORE_TABLES
from .results import AuditResult, ModelInfo, ModuleError, Section, Table

_PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "aif360", "shap", "lime", "jinja2")


@functools.lru_cache(maxsize=1)
def library_versions() -> tuple[tuple[str, str], ...]:
    import platform
    from importlib import metadata

    out = [("python", platform.python_version()), ("fairness-audit", __version__)]
    for pkg in _PACKAGES:
        try:
            out.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            pass
    return tuple(out)


def model_features_of(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def run_audit(
    model: Any,
    data: Any,
    *,
    label: str,
    protected: Sequence[str] | str,
    positive_label: Any = None,
    favorable: bool | str = True,
    reference: dict[str, Any] | None = None,
    features: Sequence[str] | None = None,
    predictions: Any = None,
    scores: Any = None,
    threshold: float = 0.5,
    seed: int = 0,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    config: AuditConfig | None = None,
    train_data: Any = None,
    explain: Any = False,
    mitigate: Any = False,
    strict: bool = False,
    engine: str = "auto",
    progress: bool | None = None,
    task: str = "auto",
    favorable_classes: Sequence[Any] | None = None,
    scoring_cut: float | None = None,
    **options: Any,
) -> AuditResult:
    """Audit a classifier (binary or multiclass) or a regression model for performance and fairness by group.

    Validates the inputs once, predicts once, then computes every metric by group and every disparity with
    bootstrap intervals and corrected p-values (plus the optional explanation and mitigation modules), and
    returns a frozen result that renders to HTML, JSON, JUnit and Markdown.

    Parameters
    ----------
    model : estimator, callable or None
        A fitted classifier or pipeline (``predict_proba`` / ``decision_function`` / ``predict``), a function
        of the feature DataFrame returning probabilities or labels, or ``None`` when ``predictions`` and/or
        ``scores`` are given.
    data : DataFrame, path, DuckDB relation, Spark or Polars frame
        The rows to audit, with the features, the label and the protected columns: a pandas DataFrame; or, for
        data larger than memory, a Parquet or CSV path or glob, a DuckDB relation, a PySpark DataFrame or a
        Polars frame, scanned where it lives (see ``engine``).
    label : str
        The true-label column.
    protected : str or list of str
        Protected attribute columns; their intersections are audited too (``intersections=False`` turns that
        off).
    positive_label : optional
        The predicted (positive) class; inferred only for 0/1 or boolean labels.
    favorable : bool or {"higher", "lower"}, default True
        True when receiving the positive label helps the person (a loan granted), False when it harms them
        (flagged for recidivism). Reference groups, ratios, the four-fifths rule and "advantaged" follow the
        favourable outcome. For a regression model: ``"higher"`` (True) when a higher prediction helps the person
        (a credit limit), ``"lower"`` (False) when it harms them (a price, a risk score).
    reference : dict, optional
        ``{attribute: group}``; by default the group with the highest rate of favourable predictions (the EEOC
        four-fifths convention). Intersections are named ``"sex & race"`` with groups like ``"Female & Black"``.
    features : list of str, optional
        Model inputs; by default the model's ``feature_names_in_``, else all columns but the label.
    predictions, scores : array, Series or str, optional
        Precomputed predicted labels (label values or booleans) and/or positive-class probabilities: arrays in
        data's row order, Series indexed like data, or column names (column names only for engine data).
    threshold : float, default 0.5
        Probability at or above which a score counts as a positive prediction.
    seed : int, default 0
        Seed of every random step; the same inputs and seed give the same result in any process.
    n_bootstrap : int, default 1000
        Bootstrap resamples of the intervals (0: no intervals or Wald tests).
    confidence : float, default 0.95
        Confidence level of the intervals; ``1 - confidence`` is the significance level.
    config : AuditConfig, optional
        A full configuration; keyword ``options`` set any of its other fields (``min_group_size``,
        ``max_groups``, ``correction``, ``score_buckets``, ...).
    train_data : DataFrame or path, optional
        Training data with the same label and protected columns: its label base rates by group (data-level
        bias before any model) are reported, and reweighing uses it.
    explain : bool or dict, default False
        True, or a dict of budgets (see :class:`audit.explain.ExplainConfig`), adds SHAP importance, SHAP by
        group, gap attribution, LIME cases and a proxy scan.
    mitigate : bool or dict, default False
        True, or ``{"attributes": [...]}``, adds reweighing: weights computed on ``train_data``, a clone of the
        model refitted with them, a paired before/after re-audit and a what-if table of remedies.
    strict : bool, default False
        Re-raise a module's failure instead of recording it in ``result.errors``.
    engine : {"auto", "pandas", "duckdb", "spark"}, default "auto"
        Where the rows are scanned. ``"auto"``: a pandas DataFrame in memory; a file of up to 2 million rows
        read into memory, a larger one scanned by DuckDB; a relation or Spark DataFrame by its own engine. An
        engine reduces the rows to tables of counts and score sums: counts and every count metric equal the
        in-memory audit's; ROC AUC and average precision come from ``score_buckets`` score buckets with their
        error bound stated in ``result.section("data_source")``. A model is applied batch by batch where the
        data lives.
    progress : bool, optional
        Show progress bars on long steps (default: only the command line shows them).
    task : {"auto", "binary", "multiclass", "regression"}, default "auto"
        What the model decides. ``"auto"``: a label of two values is binary; a classifier with more than two
        classes, or a text label of more, is multiclass; a regressor, or a float label with fractional values, is
        regression; an integer label of more than two values without a model to tell is refused as ambiguous.
        Data an engine scans is audited as binary; as multiclass when ``task="multiclass"``, ``favorable_classes``
        or a model of more than two classes says so (its class tables from the one grouped scan: the same numbers
        as in memory); as regression with ``task="regression"`` and a predictions column (fixed-point sums from the
        scan, distances from prediction buckets with stated bounds).
    favorable_classes : list, optional
        Multiclass: the classes that help the person (a loan grade A or B). "Receives a favourable class" is then
        audited as a binary decision too, and per-class disparities are signed (negative: the group fares worse).
    scoring_cut : float, optional
        Regression: the prediction above which a row counts as scored high for the scoring rate (default: the
        overall median prediction, as NYC Local Law 144 defines the scoring rate).
    **options
        Any other :class:`audit.AuditConfig` field.

    Returns
    -------
    AuditResult
        The frozen result: ``metrics``, ``disparities``, ``groups`` tables, sections of the optional modules,
        warnings and module errors.

    Raises
    ------
    InputError
        Bad data: a missing column (with a suggestion), missing label or group values, non-binary labels,
        NaN or out-of-range scores, too many groups, misaligned predictions.
    ModelError
        The model raised, returned the wrong shape, or exited.
    ConfigError
        An invalid option.

    Examples
    --------
    >>> import audit
    >>> from audit.datasets import load_compas
    >>> data = load_compas()
    >>> data["score"] = data["decile_score"] / 10
    >>> result = audit.run_audit(None, data, label="two_year_recid", positive_label=1, favorable=False,
    ...                          protected=["race"], scores="score", n_bootstrap=200)
    >>> result.n_rows
    6172
    >>> row = result.disparities.query("group == 'African-American' and metric == 'fpr_difference'").iloc[0]
    >>> bool(row.value < 0), row.verdict      # Black defendants were flagged wrongly more often
    (True, 'significant')
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    base = config.to_dict() if config is not None else {}
    base.update({"threshold": threshold, "seed": seed, "n_bootstrap": n_bootstrap, "confidence": confidence})
    if config is not None:  # explicit keyword arguments only override a config when they differ from defaults
        defaults = AuditConfig()
        for key in ("threshold", "seed", "n_bootstrap", "confidence"):
            if base[key] == getattr(defaults, key):
                base[key] = getattr(config, key)
    switches = registry.options()  # explain=, mitigate= and every registered module's option
    given = {"explain": explain, "mitigate": mitigate, **{k: options.pop(k) for k in list(options) if k in switches}}
    base.update(options)
    try:
        cfg = AuditConfig.from_dict(base)
    except TypeError as exc:
        raise ConfigError(f"invalid audit option: {exc}", code="invalid_option") from None
    # each module's option validated into its config (None: off), in registry order
    module_options = {m.name: m.build(given.get(name)) for name, m in switches.items()}

    from ._scale.sources import check_engine, is_engine_data, open_source

    check_engine(engine)
    source = None
    if is_engine_data(data) or engine in ("duckdb", "spark"):
        data, source = open_source(data, engine)
    if source is None and isinstance(train_data, (str, os.PathLike)):  # a file of training rows: read it
        from ._io import load_data

        train_data = load_data(train_data, "train_data")
    check_model_arguments(model, predictions, scores)
    from ._tasks import TASKS

    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(f"task={task!r} is invalid: give one of {', '.join(map(repr, TASKS))}.",
                          code="invalid_option")
    from ._tasks import estimator_kind

    if source is not None and (task == "regression" or (task == "auto" and estimator_kind(model) == "regressor")):
        try:
            return _run_scaled_regression(source, model, label=label, protected=protected, reference=reference,
                                          features=features, predictions=predictions, scores=scores, cfg=cfg, t0=t0,
                                          strict=strict, train_data=train_data, module_options=module_options,
                                          favorable=favorable, positive_label=positive_label,
                                          favorable_classes=favorable_classes, scoring_cut=scoring_cut)
        finally:
            source.close()
    classes_ = getattr(model, "classes_", None)
    if source is not None and (task == "multiclass" or (task == "auto" and (
            favorable_classes is not None or (classes_ is not None and len(classes_) > 2)))):
        try:
            return _run_scaled_classes(source, model, label=label, protected=protected, reference=reference,
                                       features=features, predictions=predictions, scores=scores, cfg=cfg,
                                       progress=progress, t0=t0, strict=strict, train_data=train_data,
                                       module_options=module_options, favorable_classes=favorable_classes,
                                       positive_label=positive_label, scoring_cut=scoring_cut)
        finally:
            source.close()
    if source is None and _is_frame(data):
        from ._tasks import resolve_task

        resolved = resolve_task(task, data, label, model, predictions, positive_label)
        if resolved != "binary":
            return _run_task(resolved, model, data, label=label, positive_label=positive_label, favorable=favorable,
                             protected=protected, reference=reference, features=features, predictions=predictions,
                             scores=scores, cfg=cfg, t0=t0, strict=strict, train_data=train_data,
                             module_options=module_options, favorable_classes=favorable_classes,
                             scoring_cut=scoring_cut)
    for name, value in (("favorable_classes", favorable_classes), ("scoring_cut", scoring_cut)):
        if value is not None:
            raise ConfigError(f"{name}= applies to a {'multiclass' if name == 'favorable_classes' else 'regression'} "
                              "audit; this one is binary (its label has two values). Pass task= to say otherwise.",
                              code="invalid_option")
    if source is not None:
        try:
            return _run_scaled(source, model, label=label, positive_label=positive_label, favorable=favorable,
                               protected=protected, reference=reference, features=features, predictions=predictions,
                               scores=scores, cfg=cfg, progress=progress, t0=t0, strict=strict, train_data=train_data,
                               module_options=module_options)
        finally:
            source.close()
    inputs = validate_inputs(data, label=label, positive_label=positive_label, favorable=favorable,
                             protected=protected, reference=reference, features=features,
                             model_features=model_features_of(model) if features is None else None,
                             predictions=predictions, scores=scores, config=cfg)
    timings["validate"] = time.perf_counter() - t0

    t = time.perf_counter()
    out, warn = predict_rows(model, inputs, cfg)
    timings["predict"] = time.perf_counter() - t

    with blas_single_threaded():
        return _audit(inputs, out, cfg, timings, t0, warn, strict, train_data, reference, model, module_options)


def _dataframe_type() -> type:
    import pandas as pd

    return pd.DataFrame


def _is_frame(data: Any) -> bool:
    return isinstance(data, _dataframe_type())


def _run_task(task: str, model: Any, data: Any, *, label: Any, positive_label: Any, favorable: Any, protected: Any,
              reference: dict[str, Any] | None, features: Any, predictions: Any, scores: Any, cfg: AuditConfig,
              t0: float, strict: bool, train_data: Any, module_options: dict[str, Any], favorable_classes: Any,
              scoring_cut: Any) -> AuditResult:
    """A multiclass or regression audit (rows in memory): its label and predictions validated for the task,
    predicted once, the task's statistic beside the counts, then the registry's modules for that task."""

    from ._tasks import predict_task, validate_target
    from .stats.classes import ClassTable
    from .stats.moments import RegressionSums

    if positive_label is not None:
        raise ConfigError(f"positive_label= applies to a binary audit; this one is {task}"
                          + (": name the classes that help the person with favorable_classes=[...]."
                             if task == "multiclass" else ": say whether a higher prediction helps the person with "
                             "favorable='higher' or 'lower'."), code="invalid_option")
    if scoring_cut is not None and task != "regression":
        raise ConfigError("scoring_cut= applies to a regression audit.", code="invalid_option")
    _check_scoring_cut(scoring_cut)
    for module in registry.modules():  # an optional module asked for that cannot audit this task is named
        if module.core or task in module.tasks:
            continue
        if module.option is not None and module_options.get(module.name) is not None:
            raise ConfigError(f"{module.option}= is not available for a {task} audit: the {module.name} module "
                              f"audits {' and '.join(module.tasks)} models.", code="invalid_option")
    timings: dict[str, float] = {}
    if train_data is not None and not isinstance(train_data, _dataframe_type()):
        from ._io import load_data

        train_data = load_data(train_data, "train_data")
    target = validate_target(data, task=task, label=label, model=model, predictions=predictions, scores=scores,
                             favorable=favorable, favorable_classes=favorable_classes)
    fav = target.direction == "higher" if task == "regression" else favorable
    inputs = validate_inputs(data, label=label, positive_label=None, favorable=fav, protected=protected,
                             reference=reference, features=features,
                             model_features=model_features_of(model) if features is None else None,
                             predictions=predictions, scores=scores, config=cfg, target=target)
    timings["validate"] = time.perf_counter() - t0
    t = time.perf_counter()
    out = predict_task(model, inputs.data.loc[:, list(inputs.features)] if model is not None else None, target,
                       seed=cfg.seed, check_rows=cfg.check_determinism_rows)
    timings["predict"] = time.perf_counter() - t
    warn: list[str] = []
    if out.deterministic is False:
        msg = ("the model is non-deterministic: predicting the same rows twice gave different outputs; "
               "results describe one draw of its predictions")
        warn.append(msg)
        _warnings.warn(msg, NonDeterministicModelWarning, stacklevel=3)
    if train_data is not None and module_options.get("mitigation") is None:
        warn.append(f"train_data= is used by reweighing (mitigate=) in a {task} audit; the training-data summary of "
                    "label base rates by group is a binary audit's, so it was not computed")
    if task == "regression":
        stat = RegressionSums(target.values, out.values, cut=scoring_cut)
        info = (("favorable", target.direction), ("scoring_cut", stat.cut))
    else:
        stat = ClassTable(target.values, out.values, len(target.classes))
        info = (("classes", target.class_names),
                ("favorable_classes", tuple(target.class_names[c] for c in target.favorable)))
    with blas_single_threaded():
        return _audit(inputs, out, cfg, timings, t0, warn, strict, train_data, reference, model, module_options,
                      statistics=(stat,), target_info=info)


def predict_rows(model: Any, inputs: Any, cfg: AuditConfig) -> tuple[ModelOutput, list[str]]:
    """The model's output on validated rows, predicted once (or the precomputed predictions/scores), and the
    warnings it raises (a non-deterministic model)."""
    warn: list[str] = []
    if model is None:
        import numpy as np

        preds = inputs.predictions
        if preds is None:
            preds = (inputs.scores >= cfg.threshold).astype(np.int8)
        out = ModelOutput(preds, inputs.scores, "probability" if inputs.scores is not None else None,
                          "precomputed", describe(None, predictions=inputs.predictions is not None,
                                                  scores=inputs.scores is not None), None, None)
        return out, warn
    label_values = [inputs.positive_label] + ([inputs.negative_label] if inputs.negative_label is not None else [])
    X = inputs.data.loc[:, list(inputs.features)]
    out = run_model(model, X, positive=inputs.positive_label, label_values=label_values,
                    threshold=cfg.threshold, seed=cfg.seed, check_rows=cfg.check_determinism_rows)
    if out.deterministic is False:
        msg = ("the model is non-deterministic: predicting the same rows twice gave different outputs; "
               "results describe one draw of its predictions")
        warn.append(msg)
        _warnings.warn(msg, NonDeterministicModelWarning, stacklevel=3)
    return out, warn


class _BlasLimit:
    """BLAS single-threaded while at least one audit runs in the process, restored when the last one ends.

    threadpoolctl's context manager restores what it saw on entry, so two audits overlapping in threads would
    leave BLAS at one thread (the second saw the first's limit); a process-wide count avoids that."""

    _lock = threading.Lock()
    _active = 0
    _limiter: Any = None

    def __enter__(self) -> "_BlasLimit":
        with self._lock:
            if _BlasLimit._active == 0:
                try:
                    from threadpoolctl import threadpool_limits
                except ImportError:  # pragma: no cover - a dependency of scikit-learn
                    _BlasLimit._limiter = None
                else:
                    _BlasLimit._limiter = threadpool_limits(1, user_api="blas")
            _BlasLimit._active += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            _BlasLimit._active -= 1
            if _BlasLimit._active == 0 and _BlasLimit._limiter is not None:
                _BlasLimit._limiter.restore_original_limits()
                _BlasLimit._limiter = None


def blas_single_threaded() -> Any:
    """The statistics use small matrix products; BLAS worker threads busy-waiting between them would
    compete with the library's own two worker threads, so BLAS runs single-threaded during the audit
    (restored after the last overlapping audit ends; the model's own prediction is not affected)."""
    return _BlasLimit()


def _refuse_engine_options(module_options: dict[str, Any], task: str) -> None:
    """Optional modules asked for on data an engine scans, which they audit for binary decisions only."""
    for module in registry.modules():
        if module.core or module.option is None or module_options.get(module.name) is None:
            continue
        raise ConfigError(f"{module.option}= on data an engine scans is available for a binary audit; a {task} "
                          "audit there gives its metrics, disparities and intervals (read the rows into a pandas "
                          f"DataFrame for {module.option}=).", code="invalid_option")


def _check_scoring_cut(scoring_cut: Any) -> None:
    import math

    if scoring_cut is not None and (isinstance(scoring_cut, bool) or not isinstance(scoring_cut, (int, float))
                                    or not math.isfinite(scoring_cut)):
        raise ConfigError(f"scoring_cut={scoring_cut!r} is invalid: give a finite number (the prediction above "
                          "which a row counts as scored high).", code="invalid_option")


def _run_scaled_regression(source: Any, model: Any, *, label: Any, protected: Any, reference: dict[str, Any] | None,
                           features: Any, predictions: Any, scores: Any, cfg: AuditConfig, t0: float, strict: bool,
                           train_data: Any, module_options: dict[str, Any], favorable: Any, positive_label: Any,
                           favorable_classes: Any, scoring_cut: Any) -> AuditResult:
    """A regression audit of data an engine scans, from its predictions column (``_scale/regression.py``)."""

    from ._scale.run import scaled_regression

    if model is not None:
        raise ConfigError("a regression audit of data an engine scans reads the predictions from a column "
                          "(predictions='...'): score the rows where they live first, or read them into a pandas "
                          "DataFrame to pass the model.", code="invalid_option")
    if predictions is None or scores is not None:
        raise ConfigError("a regression audit of data an engine scans needs predictions= (the column of predicted "
                          "numbers) and no scores=.", code="invalid_option")
    for name, value in (("positive_label", positive_label), ("favorable_classes", favorable_classes)):
        if value is not None:
            raise ConfigError(f"{name}= does not apply to a regression audit.", code="invalid_option")
    _check_scoring_cut(scoring_cut)
    _refuse_engine_options(module_options, "regression")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    with blas_single_threaded():
        scaled, target, stat = scaled_regression(source, label=label, protected=protected, reference=reference,
                                                 features=features, predictions=predictions, cfg=cfg,
                                                 favorable=favorable, scoring_cut=scoring_cut)
        timings["scan"] = time.perf_counter() - t
        warn = [] if train_data is None else ["train_data= is not used by a regression audit of data an engine scans"]
        info = (("favorable", target.direction), ("scoring_cut", stat.cut))
        return _audit(scaled.ctx.inputs, scaled.ctx.model, cfg, timings, t0, warn, strict, None, reference, model,
                      module_options, scaled=scaled, source=source, target_info=info)


def _run_scaled_classes(source: Any, model: Any, *, label: Any, protected: Any, reference: dict[str, Any] | None,
                        features: Any, predictions: Any, scores: Any, cfg: AuditConfig, progress: bool | None,
                        t0: float, strict: bool, train_data: Any, module_options: dict[str, Any],
                        favorable_classes: Any, positive_label: Any, scoring_cut: Any) -> AuditResult:
    """A multiclass audit of data an engine scans: the class tables from one grouped scan, then the same modules."""
    from ._scale.run import scaled_classes

    for name, value in (("positive_label", positive_label), ("scoring_cut", scoring_cut)):
        if value is not None:
            raise ConfigError(f"{name}= does not apply to a multiclass audit.", code="invalid_option")
    _refuse_engine_options(module_options, "multiclass")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    with blas_single_threaded():
        scaled, target = scaled_classes(source, label=label, protected=protected, reference=reference,
                                        features=features, model=model, predictions=predictions, cfg=cfg,
                                        progress=progress, favorable_classes=favorable_classes)
        timings["scan"] = time.perf_counter() - t
        warn = [] if train_data is None else ["train_data= is not used by a multiclass audit of data an engine scans"]
        info = (("classes", target.class_names),
                ("favorable_classes", tuple(target.class_names[c] for c in target.favorable)))
        return _audit(scaled.ctx.inputs, scaled.ctx.model, cfg, timings, t0, warn, strict, None, reference, model,
                      module_options, scaled=scaled, source=source, target_info=info)


def _run_scaled(source: Any, model: Any, *, label: Any, positive_label: Any, favorable: bool, protected: Any,
                reference: dict[str, Any] | None, features: Any, predictions: Any, scores: Any, cfg: AuditConfig,
                progress: bool | None, t0: float, strict: bool, train_data: Any,
                module_options: dict[str, Any]) -> AuditResult:
    """The audit of data an engine scans: the same modules and result, on the engine's cells."""
    from ._scale.run import scaled_data

    timings: dict[str, float] = {}
    t = time.perf_counter()
    with blas_single_threaded():
        scaled = scaled_data(source, label=label, positive_label=positive_label, favorable=favorable,
                             protected=protected, reference=reference, features=features, model=model,
                             predictions=predictions, scores=scores, cfg=cfg, progress=progress)
        timings["scan"] = time.perf_counter() - t
        return _audit(scaled.ctx.inputs, scaled.ctx.model, cfg, timings, t0, [], strict, train_data, reference, model,
                      module_options, scaled=scaled, source=source)


def _audit(inputs: Any, out: ModelOutput, cfg: AuditConfig, timings: dict[str, float], t0: float, warn: list[str],
           strict: bool, train_data: Any, reference: dict[str, Any] | None, model: Any,
           module_options: dict[str, Any], scaled: Any = None, source: Any = None, statistics: tuple = (),
           target_info: tuple = ()) -> AuditResult:
    t = time.perf_counter()
    ctx = build_context(inputs, out, cfg, statistics=statistics) if scaled is None else scaled.ctx
    task = inputs.task
    check_reference(inputs.reference, {p.attribute: p.groups for p in ctx.partitions if p.members})
    warn.extend(ctx.warnings)
    timings["statistics"] = time.perf_counter() - t

    errors: list[ModuleError] = []
    produced: dict[str, dict[str, Any]] = {}
    modules = registry.modules()
    for module in modules:
        if not module.core or task not in module.tasks:
            continue
        t = time.perf_counter()
        try:
            produced[module.name] = module.run(registry.Env(ctx, cfg))
        except Exception as exc:
            if strict or isinstance(exc, AuditError):
                raise
            errors.append(ModuleError(module.name, type(exc).__name__, str(exc)))
            produced[module.name] = {}
        timings[module.name] = time.perf_counter() - t

    overall = ctx.partitions[0].counts.sum(0) if ctx.partitions else None  # [TN, FP, FN, TP] of all rows
    if task != "binary" or overall is None:  # another task's label has no positive label to miss
        pass
    elif overall[2] + overall[3] == 0:
        warn.append(f"label column {inputs.label!r} holds no row with the positive label {inputs.positive_label!r} "
                    f"(only {inputs.negative_label!r}): the metrics that need actual positives are undefined. Check "
                    "positive_label if the data should hold positives.")
    elif overall[0] + overall[1] == 0:
        warn.append(f"label column {inputs.label!r} holds only the positive label {inputs.positive_label!r}: the "
                    "metrics that need actual negatives are undefined.")
    core: dict[str, list[Any]] = {"metrics": [], "groups": [], "disparities": [], "references": []}
    for name, tables in produced.items():  # every core module of the task, in registry order
        for key in core:
            core[key].extend(tables.get(key, []))
    n_insufficient = sum(1 for g in core["groups"] if g["status"] != "ok" and g["n"] > 0)
    if n_insufficient:
        warn.append(f"{n_insufficient} group(s) have insufficient data (fewer than {cfg.min_group_size} rows, "
                    f"{cfg.min_positives} positives or {cfg.min_negatives} negatives); their numbers are flagged."
                    if task == "binary" else f"{n_insufficient} group(s) have insufficient data (fewer than "
                    f"{cfg.min_group_size} rows); their numbers are flagged and not tested.")

    validated: dict[str, Any] = {}

    def training() -> Any:
        """The training rows (in memory) validated once for every module that uses them."""
        if "train" not in validated:
            validated["train"] = validate_training(train_data, inputs, cfg, reference)
        return validated["train"]

    sections: list[Section] = []
    for module in modules:  # the sections, in registry order; each runs when its option or trigger asks for it
        if module.core:
            continue
        env = registry.Env(ctx, cfg, model=model, options=module_options.get(module.name), strict=strict,
                           train_data=train_data, reference=reference, scaled=scaled, source=source, audit=run_audit,
                           training=training if train_data is not None and scaled is None else None)
        if task not in module.tasks or not (module.wanted(env) if module.wanted is not None
                                            else env.options is not None):
            continue
        run = module.run if scaled is None else (module.run_engine or module.run)
        if run is None:
            continue
        t = time.perf_counter()
        try:
            sec = run(env)
            sections.append(sec)
            warn.extend(sec.get("warnings", ()) or ())
        except (Exception, SystemExit) as exc:
            # shap, lime, a remedy or the model failing in a module is recorded and the audit completes (bad
            # options, modules declared failure="raise", and everything under strict are raised)
            if strict or isinstance(exc, ConfigError) or module.failure == "raise":
                raise
            errors.append(ModuleError(module.name, type(exc).__name__, " ".join(str(exc).split())[:500]))
        if module.timed:
            timings[module.name] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    metric_columns, disparity_columns, group_columns = CORE_TABLES[task]
    return AuditResult(
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        library_version=__version__,
        label=inputs.label,
        positive_label=inputs.positive_label,
        negative_label=inputs.negative_label,
        favorable=inputs.favorable,
        protected=tuple(a.name for a in inputs.attributes),
        features=inputs.features,
        n_rows=inputs.n,
        data_fingerprint=inputs.fingerprint,
        model=ModelInfo(out.description, out.method, out.score_kind, out.fingerprint, out.deterministic),
        config=cfg,
        metrics_table=Table.from_records(metric_columns, core["metrics"]),
        disparities_table=Table.from_records(disparity_columns, core["disparities"]),
        groups_table=Table.from_records(group_columns, core["groups"]),
        references=tuple(core["references"]),
        warnings=tuple(warn),
        errors=tuple(errors),
        timings=tuple((k, round(v, 6)) for k, v in timings.items()),
        versions=library_versions(),
        sections=tuple(sections),
        task=task,
        target=target_info,
    )
