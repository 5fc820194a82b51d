"""Markdown summary for a CI step summary (GitHub Actions $GITHUB_STEP_SUMMARY, GitLab job notes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import registry
from .findings import (data_source_sentence, four_fifths_below, four_fifths_split, metric_name, significant_by_p,
                       target_sentence)
from .format import fmt, fmt_p, md

__all__ = ["md", "render_markdown"]

if TYPE_CHECKING:  # pragma: no cover
    from ..gate import GateResult
    from ..record.result import ResultData as AuditResult

ICON = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "insufficient data": "INSUFFICIENT DATA",
        "not applicable": "NOT APPLICABLE"}




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
    if result.task == "binary":
        out.append(f"{result.n_rows:,} rows; label `{md(result.label)}` (positive {md(repr(result.positive_label))}, "
                   f"{'favourable' if result.favorable else 'unfavourable'}); protected: "
                   + ", ".join(md(p) for p in result.protected) + f"; model: {md(result.model.description)}")
    else:
        out.append(f"{result.n_rows:,} rows of a {result.task} model; {md(target_sentence(result))}; protected: "
                   + ", ".join(md(p) for p in result.protected) + f"; model: {md(result.model.description)}")
    scanned = data_source_sentence(result)
    if scanned:
        out.append("")
        out.append(md(scanned))
    sig = significant_by_p(result)
    out.append("")
    out.append(f"### Significant disparities ({len(sig)})")
    if sig:
        ci = f"{100 * result.config.confidence:g}% CI (unadjusted)"
        out.append("Negative differences and ratios below 1: the group fares worse than its reference.")
        out.append("")
        out.append(f"| attribute | group | reference | metric | value | {ci} | p ({md(result.config.correction)}-adj.) |")
        out.append("|---|---|---|---|---|---|---|")
        for r in sig[:max_rows]:
            out.append(f"| {md(r['attribute'])} | {md(r['group'])} | {md(r['reference'])} | {md(metric_name(r))} | "
                       f"{fmt(r['value'])} | {_ci(r)} | {fmt_p(r['p_value'])} |")
        if len(sig) > max_rows:
            out.append(f"\n{len(sig) - max_rows} more in the JSON result.")
    else:
        out.append("None at the configured significance level.")
    for module in registry.modules():  # each module's own lines, in registry order
        sec = result.section(module.name)
        if sec is not None and module.markdown is not None:
            out.extend(registry.view(module, "markdown", sec, result))
    below = four_fifths_below(result)
    if below:
        split = ", ".join(f"{k} {v}" for v, k in four_fifths_split(below))
        out.append(f"\nFour-fifths rule: {len(below)} group(s) below {result.config.four_fifths:g} ({split}).")
    for w in result.warnings:
        out.append(f"\n> warning: {md(w)}")
    for e in result.errors:
        out.append(f"\n> module error: {md(e.module)}: {md(e.error_type)}: {md(e.message)}")
    return "\n".join(out) + "\n"
