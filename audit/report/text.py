"""Plain-text summary of a result (CLI and notebooks)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..results import AuditResult


#: characters shown as escapes in text output: C0/C1 controls, DEL, bidi controls, line and paragraph separators,
#: lone surrogates
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(m: "re.Match[str]") -> str:
    c = m.group(0)
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c) or (
        f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def visible(text: str, keep_newlines: bool = False) -> str:
    """Text safe for a terminal or a CI log: control, escape and bidi characters (and lone surrogates) are
    shown as escapes, so a group named ``x\\n::error::...`` cannot write a workflow command or move the
    cursor. ``keep_newlines`` keeps our own line breaks."""
    if keep_newlines:
        return "\n".join(_INVISIBLE.sub(_escape, line) for line in str(text).split("\n"))
    return _INVISIBLE.sub(_escape, str(text))


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "undefined"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def fmt_p(p: Any) -> str:
    if p is None:
        return "p n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def interval(row: dict[str, Any]) -> str:
    if row.get("ci_low") is None:
        return ""
    return f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def data_source_sentence(result: "AuditResult") -> str | None:
    """Where the rows were scanned and how exact the rank metrics are (engine audits only), in plain text."""
    sec = result.section("data_source")
    if sec is None:
        return None
    text = (f"Scanned by {sec.get('engine')} from {sec.get('source')}: {sec.get('rows', 0):,} rows reduced to "
            f"{sec.get('cells', 0):,} cells in {sec.get('scan_seconds', 0):g} s"
            + (", the model applied batch by batch" if sec.get("model_applied_in_batches") else "") + ".")
    if sec.get("score_buckets"):
        if sec.get("exact_rank_metrics"):
            text += (f" ROC AUC and average precision are exact (each of the {sec.get('score_buckets'):,} score "
                     "buckets holds one score value per group).")
        else:
            text += (f" ROC AUC and average precision treat scores within one of {sec.get('score_buckets'):,} buckets "
                     f"as tied: they are within {sec.get('roc_auc_max_error'):.2g} and "
                     f"{sec.get('average_precision_max_error'):.2g} of the exact values (largest bound over "
                     "groups; each group's bound is in the JSON). Counts and every other metric are exact.")
    return text


def summary_text(result: "AuditResult", max_rows: int = 12) -> str:
    cfg = result.config
    fav = "favourable" if result.favorable else "unfavourable"
    lines = [
        f"Fairness audit of {result.n_rows:,} rows; label {result.label!r}, positive {result.positive_label!r} "
        f"({fav}); protected: {', '.join(result.protected)}",
        f"Model: {result.model.description} [{result.model.method}"
        + ("" if result.model.deterministic is None else
           ", deterministic" if result.model.deterministic else ", NON-DETERMINISTIC") + "]",
    ]
    scanned = data_source_sentence(result)
    if scanned:
        lines.append(scanned)
    overall = {r["metric"]: r for r in result.metrics_table.records() if r["attribute"] == "(overall)"}
    parts = []
    for m in ("accuracy", "balanced_accuracy", "roc_auc", "selection_rate", "base_rate"):
        if m in overall and overall[m]["value"] is not None:
            parts.append(f"{m} {fmt(overall[m]['value'])}{interval(overall[m])}")
    lines.append("Overall: " + "; ".join(parts))
    for attr, ref in result.references:
        groups = [g for g in result.groups_table.records() if g["attribute"] == attr]
        shown = ", ".join(f"{g['group']} {g['n']:,}" + ("*" if g["status"] != "ok" else "") for g in groups[:8])
        more = f", ... ({len(groups) - 8} more)" if len(groups) > 8 else ""
        lines.append(f"  {attr}: {shown}{more}  (reference: {ref})")
    if any(g["status"] != "ok" for g in result.groups_table.records()):
        lines.append("  * insufficient data: too few rows, positives or negatives to judge")
    disp = [r for r in result.disparities_table.records() if r["comparison"] == "vs_reference"]
    tested = [r for r in disp if r["verdict"] in ("significant", "not significant")]
    sig = [r for r in tested if r["verdict"] == "significant"]
    lines.append("")
    lines.append(f"Disparities: {len(sig)} significant of {len(tested)} tested "
                 f"({cfg.correction}-adjusted p-values; unadjusted {100 * cfg.confidence:g}% intervals from "
                 f"{cfg.n_bootstrap} resamples); {sum(r['verdict'] == 'insufficient data' for r in disp)} with "
                 f"insufficient data. Negative differences and ratios below 1: the group fares worse.")
    below = [r for r in disp if r["metric"] == "demographic_parity_ratio" and r["flag"]]
    if below:
        from .html import four_fifths_split

        split = ", ".join(f"{k} {v}" for v, k in four_fifths_split(below))
        lines.append(f"Four-fifths rule: {len(below)} group(s) below {cfg.four_fifths:g} ({split})")
    sig.sort(key=lambda r: (r["p_value"], -abs((r["value"] or 0))))
    for r in sig[:max_rows]:
        flag = f"  <- {r['flag']}" if r["flag"] else ""
        lines.append(f"  {r['attribute']}: {r['group']} vs {r['reference']}: {r['metric']} {fmt(r['value'])}"
                     f"{interval(r)} {fmt_p(r['p_value'])}{flag}")
    if len(sig) > max_rows:
        lines.append(f"  ... {len(sig) - max_rows} more (see the JSON result)")
    sec = result.section("explanations")
    if sec is not None and sec.table("shap_importance") is not None and len(sec.table("shap_importance")):
        top = sec.table("shap_importance").records()[:5]
        lines.append("")
        lines.append("Explanations: most important features (mean |SHAP|, " + str(sec.get("output_space")) + "): "
                     + ", ".join(f"{r['feature']} {fmt(r['mean_abs_shap'])}" for r in top))
        from .explain_view import top_driver

        driver = top_driver(result)
        if driver:
            lines.append(f"  {driver}")
    if sec is not None and sec.table("proxy_auc") is not None:
        for r in sec.table("proxy_auc").records():
            if r["auc"] is not None:
                lines.append(f"  proxy scan: the other features predict {r['attribute']} with AUC {fmt(r['auc'])}"
                             f"{interval(r)}")
    mit = result.section("mitigation")
    if mit is not None:
        lines.append("")
        lines.append("Mitigation: " + (mit.get("finding") or f"no reweighed refit ({mit.get('why')})"))
    for w in result.warnings:
        lines.append(f"warning: {w}")
    for e in result.errors:
        lines.append(f"error in module {e.module}: {e.error_type}: {e.message}")
    return "\n".join(visible(line) for line in lines)  # each line is one line: user strings cannot add any
