"""Plain-text summary of a result (CLI and notebooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import registry
from .findings import (data_source_sentence, four_fifths_below, four_fifths_split, metric_name, overall_metrics,
                       significant_by_p, target_sentence)
from .format import fmt, fmt_p, interval, visible

if TYPE_CHECKING:  # pragma: no cover
    from ..record.result import ResultData as AuditResult

__all__ = ["data_source_sentence", "fmt", "fmt_p", "interval", "summary_text", "visible"]


def summary_text(result: "AuditResult", max_rows: int = 12) -> str:
    cfg = result.config
    lines = [
        f"Fairness audit of {result.n_rows:,} rows; {target_sentence(result)}; protected: {', '.join(result.protected)}",
        f"Model: {result.model.description} [{result.model.method}"
        + ("" if result.model.deterministic is None else
           ", deterministic" if result.model.deterministic else ", NON-DETERMINISTIC") + "]",
    ]
    scanned = data_source_sentence(result)
    if scanned:
        lines.append(scanned)
    parts = [f"{name} {fmt(r['value'])}{interval(r)}" for name, r in overall_metrics(result)]
    lines.append("Overall: " + "; ".join(parts))
    for attr, ref in result.references:
        groups = [g for g in result.groups_table.records() if g["attribute"] == attr]
        shown = ", ".join(f"{g['group']} {g['n']:,}" + ("*" if g["status"] != "ok" else "") for g in groups[:8])
        more = f", ... ({len(groups) - 8} more)" if len(groups) > 8 else ""
        lines.append(f"  {attr}: {shown}{more}  (reference: {ref})")
    if any(g["status"] != "ok" for g in result.groups_table.records()):
        lines.append("  * insufficient data: too few rows, positives or negatives to judge" if result.task == "binary"
                     else "  * insufficient data: too few rows to judge")
    disp = [r for r in result.disparities_table.records() if r["comparison"] == "vs_reference"]
    tested = [r for r in disp if r["verdict"] in ("significant", "not significant")]
    sig = significant_by_p(result)
    lines.append("")
    lines.append(f"Disparities: {len(sig)} significant of {len(tested)} tested "
                 f"({cfg.correction}-adjusted p-values; unadjusted {100 * cfg.confidence:g}% intervals from "
                 f"{cfg.n_bootstrap} resamples); {sum(r['verdict'] == 'insufficient data' for r in disp)} with "
                 f"insufficient data. Negative differences and ratios below 1: the group fares worse.")
    below = four_fifths_below(result)
    if below:
        split = ", ".join(f"{k} {v}" for v, k in four_fifths_split(below))
        lines.append(f"Four-fifths rule: {len(below)} group(s) below {cfg.four_fifths:g} ({split})")
    for r in sig[:max_rows]:
        flag = f"  <- {r['flag']}" if r["flag"] else ""
        lines.append(f"  {r['attribute']}: {r['group']} vs {r['reference']}: {metric_name(r)} {fmt(r['value'])}"
                     f"{interval(r)} {fmt_p(r['p_value'])}{flag}")
    if len(sig) > max_rows:
        lines.append(f"  ... {len(sig) - max_rows} more (see the JSON result)")
    for module in registry.modules():  # each module's own lines, in registry order
        sec = result.section(module.name)
        if sec is not None and module.text is not None:
            lines.extend(registry.view(module, "text", sec, result))
    for w in result.warnings:
        lines.append(f"warning: {w}")
    for e in result.errors:
        lines.append(f"error in module {e.module}: {e.error_type}: {e.message}")
    return "\n".join(visible(line) for line in lines)  # each line is one line: user strings cannot add any
