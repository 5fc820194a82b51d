"""The training-data module: label base rates by group in the training data (data-level bias before any model),
its labels audited as if they were predictions."""

from __future__ import annotations


from ..config import AuditConfig
from ..exceptions import AuditError
from ..registry import Env, Module
from ..report.explain_view import training_view
from ..record.tables import DISPARITY_COLUMNS, GROUP_COLUMNS, Section, Table

#: the options of the training data's own audit are the audit's, except those that concern a model
_OWN = ("threshold", "seed", "n_bootstrap", "confidence")


def label_audit_config(cfg: AuditConfig) -> AuditConfig:
    """The training labels' audit runs with the audit's options, except those that concern a model."""
    return AuditConfig.from_dict({**cfg.to_dict(), "threshold": 0.5, "check_determinism_rows": 0})


def run(env: Env) -> Section:
    """Audit the training rows with their labels as predictions: in memory on the rows validated once for the
    audit (``env.training()``), for an engine through ``env.audit`` (``run_audit`` of the training source)."""
    inputs, cfg = env.ctx.inputs, env.cfg
    if env.scaled is None:
        from .. import _context
        from .._model import ModelOutput, describe
        from .._validation import check_reference
        from . import bias, performance

        train = env.training()
        ctx = _context.build_context(train, ModelOutput(train.predictions, None, None, "precomputed", describe(None),
                                                        None, None), label_audit_config(cfg))
        try:
            check_reference(train.reference, {p.attribute: p.groups for p in ctx.partitions if p.members})
        except AuditError as exc:
            raise type(exc)(f"train_data: {exc}", code=exc.code, column=getattr(exc, "column", None)) from None
        perf, disparities = performance.run(ctx), bias.run(ctx)["disparities"]
        groups, metrics, n_rows, fingerprint = perf["groups"], perf["metrics"], train.n, train.fingerprint
    else:
        options = {k: v for k, v in cfg.to_dict().items() if k not in _OWN}
        options["check_determinism_rows"] = 0
        try:
            sub = env.audit(None, env.train_data, label=inputs.label, positive_label=inputs.positive_label,
                            favorable=inputs.favorable, protected=[a.name for a in inputs.attributes],
                            reference=env.reference, features=[], predictions=inputs.label, seed=cfg.seed,
                            n_bootstrap=cfg.n_bootstrap, confidence=cfg.confidence, **options)
        except AuditError as exc:
            raise type(exc)(f"train_data: {exc}", code=exc.code, column=getattr(exc, "column", None)) from None
        groups, metrics = sub.groups_table.records(), sub.metrics_table.records()
        disparities, n_rows, fingerprint = sub.disparities_table.records(), sub.n_rows, sub.data_fingerprint
    keep = [r for r in disparities if r["metric"] in ("base_rate_difference", "base_rate_ratio")]
    rates = [{"attribute": r["attribute"], "group": r["group"], "base_rate": r["value"]}
             for r in metrics if r["metric"] == "base_rate"]
    return Section("training_data", tables=(
        ("groups", Table.from_records(GROUP_COLUMNS, groups)), ("base_rates", Table.from_records(DISPARITY_COLUMNS, keep)),
        ("group_base_rates", Table.from_records(GROUP_BASE_RATE_COLUMNS, rates))),
        info=(("n_rows", n_rows), ("data_fingerprint", fingerprint)))


GROUP_BASE_RATE_COLUMNS = ("attribute", "group", "base_rate")

MODULE = Module(
    name="training_data", wanted=lambda env: env.train_data is not None, run=run, failure="raise",
    tables={"groups": GROUP_COLUMNS, "base_rates": DISPARITY_COLUMNS, "group_base_rates": GROUP_BASE_RATE_COLUMNS},
    kinds={"base_rate": "float", "value": "float", "ci_low": "float", "ci_high": "float", "p_value": "float",
           "p_value_raw": "float", "favorable_rate": "float", "n": "int", "positives": "int", "negatives": "int",
           "predicted_positives": "int", "is_reference": "bool"}, html=training_view, html_place="data")
