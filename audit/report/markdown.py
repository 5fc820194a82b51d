"""Markdown summary for a CI step summary (GitHub Actions $GITHUB_STEP_SUMMARY, GitLab job notes)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .findings import data_source_sentence, four_fifths_split, top_driver
from .format import fmt, fmt_p, visible

if TYPE_CHECKING:  # pragma: no cover
    from ..gate import GateResult
    from ..results import AuditResult

ICON = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "insufficient data": "INSUFFICIENT DATA",
        "not applicable": "NOT APPLICABLE"}


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def md(s: Any) -> str:
    """User text in Markdown (a table cell or a sentence): every ASCII punctuation character is backslash-escaped
    (so no link, image, emphasis, HTML tag, entity or table break can form), control and bidi characters are
    shown as escapes, and line breaks become spaces."""
    text = " ".join(visible(str(s), keep_newlines=True).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def _ci(r: dict[str, Any]) -> str:
    return "not shown" if r["ci_low"] is None else f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"


def render_markdown(result: "AuditResult", gate: "GateResult | None" = None, max_rows: int = 10) -> str:
    out = []
    if gate is not None:
        out.append(f"## Fairness audit: gate {'passed' if gate.passed else 'FAILED'}")
        counts = gate.counts()
        out.append(", ".join(f"{v} {k}" for k, v in counts.items() if v))
        out.append("")
        out.append("| rule | check | verdict | details |")
        out.append("|---|---|---|---|")
        for r in gate.rules:
            worst = r.failing_checks[:3]
            details = "; ".join(f"{md(c.attribute)} {md(c.group)}: {md(c.message)}" for c in worst) or "all groups pass"
            verdict = ICON[r.verdict] + (" (blocks)" if r.blocking else "")
            out.append(f"| {md(r.rule.name)} | {md(r.rule.describe())} | {verdict} | {details} |")
        for note in gate.notes:
            out.append(f"\n> {md(note)}")
    else:
        out.append("## Fairness audit")
    out.append("")
    out.append(f"{result.n_rows:,} rows; label `{md(result.label)}` (positive {md(repr(result.positive_label))}, "
               f"{'favourable' if result.favorable else 'unfavourable'}); protected: "
               + ", ".join(md(p) for p in result.protected) + f"; model: {md(result.model.description)}")
    scanned = data_source_sentence(result)
    if scanned:
        out.append("")
        out.append(md(scanned))
    sig = sorted(result.significant(), key=lambda r: (r["p_value"], -abs(r["value"] or 0)))
    out.append("")
    out.append(f"### Significant disparities ({len(sig)})")
    if sig:
        ci = f"{100 * result.config.confidence:g}% CI (unadjusted)"
        out.append("Negative differences and ratios below 1: the group fares worse than its reference.")
        out.append("")
        out.append(f"| attribute | group | reference | metric | value | {ci} | p ({md(result.config.correction)}-adj.) |")
        out.append("|---|---|---|---|---|---|---|")
        for r in sig[:max_rows]:
            out.append(f"| {md(r['attribute'])} | {md(r['group'])} | {md(r['reference'])} | {md(r['metric'])} | "
                       f"{fmt(r['value'])} | {_ci(r)} | {fmt_p(r['p_value'])} |")
        if len(sig) > max_rows:
            out.append(f"\n{len(sig) - max_rows} more in the JSON result.")
    else:
        out.append("None at the configured significance level.")
    sec = result.section("explanations")
    if sec is not None:
        out.append("\n### Explanations")
        imp = sec.table("shap_importance").records() if sec.table("shap_importance") else []
        if imp:
            out.append("Most important features (mean \\|SHAP\\|): "
                       + ", ".join(f"{md(r['feature'])} {fmt(r['mean_abs_shap'])}" for r in imp[:5]) + ".")
        driver = top_driver(result)
        if driver:
            out.append(f"\n{md(driver)}")
        for r in (sec.table("proxy_auc").records() if sec.table("proxy_auc") else []):
            if r["auc"] is not None:
                out.append(f"\nProxy scan: the other features predict {md(r['attribute'])} with AUC {fmt(r['auc'])}"
                           + (f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]." if r["ci_low"] is not None else "."))
    mit = result.section("mitigation")
    if mit is not None:
        out.append("\n### Mitigation")
        out.append(md(mit.get("finding") or f"Reweighing: no refit ({mit.get('why')})."))
    below = [r for r in result.disparities_table.records()
             if r["comparison"] == "vs_reference" and r["metric"] == "demographic_parity_ratio" and r["flag"]]
    if below:
        split = ", ".join(f"{k} {v}" for v, k in four_fifths_split(below))
        out.append(f"\nFour-fifths rule: {len(below)} group(s) below {result.config.four_fifths:g} ({split}).")
    for w in result.warnings:
        out.append(f"\n> warning: {md(w)}")
    for e in result.errors:
        out.append(f"\n> module error: {md(e.module)}: {md(e.error_type)}: {md(e.message)}")
    return "\n".join(out) + "\n"
