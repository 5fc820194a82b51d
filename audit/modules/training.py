"""The training-data module: label base rates by group in the training data (data-level bias before any model),
its labels audited as if they were predictions."""

from __future__ import annotations


from ..exceptions import AuditError
from ..registry import Env, Module
from ..report.explain_view import training_view
from ..record.tables import DISPARITY_COLUMNS, GROUP_COLUMNS, Section, Table

#: the options of the training data's own audit are the audit's, except those that concern a model
_OWN = ("threshold", "seed", "n_bootstrap", "confidence")


def run(env: Env) -> Section:
    """Audit ``env.train_data`` with its labels as predictions (``env.audit`` is ``run_audit``)."""
    inputs, cfg = env.ctx.inputs, env.cfg
    options = {k: v for k, v in cfg.to_dict().items() if k not in _OWN}
    options["check_determinism_rows"] = 0
    try:
        sub = env.audit(None, env.train_data, label=inputs.label, positive_label=inputs.positive_label,
                        favorable=inputs.favorable, protected=[a.name for a in inputs.attributes],
                        reference=env.reference, features=[], predictions=inputs.label, seed=cfg.seed,
                        n_bootstrap=cfg.n_bootstrap, confidence=cfg.confidence, **options)
    except AuditError as exc:
        raise type(exc)(f"train_data: {exc}", code=exc.code, column=getattr(exc, "column", None)) from None
    keep = [r for r in sub.disparities_table.records() if r["metric"] in ("base_rate_difference", "base_rate_ratio")]
    rates = [{"attribute": r["attribute"], "group": r["group"], "base_rate": r["value"]}
             for r in sub.metrics_table.records() if r["metric"] == "base_rate"]
    return Section("training_data", tables=(
        ("groups", sub.groups_table), ("base_rates", Table.from_records(DISPARITY_COLUMNS, keep)),
        ("group_base_rates", Table.from_records(GROUP_BASE_RATE_COLUMNS, rates))),
        info=(("n_rows", sub.n_rows), ("data_fingerprint", sub.data_fingerprint)))


GROUP_BASE_RATE_COLUMNS = ("attribute", "group", "base_rate")

MODULE = Module(
    name="training_data", wanted=lambda env: env.train_data is not None, run=run, failure="raise",
    tables={"groups": GROUP_COLUMNS, "base_rates": DISPARITY_COLUMNS, "group_base_rates": GROUP_BASE_RATE_COLUMNS},
    kinds={"base_rate": "float"}, html=training_view, html_place="data")
