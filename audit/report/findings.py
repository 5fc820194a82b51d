"""What the outputs say about a result, decided once for every renderer (sentences and counts read from the frozen
result; no statistics): the four-fifths split, where the rows were scanned, the gap attribution's sentence and the
top driver of the largest significant gap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..metrics import DISPARITY_METRICS
from .format import fmt

if TYPE_CHECKING:  # pragma: no cover
    from ..record.result import ResultData as AuditResult
    from ..record.tables import Section


def significant_by_p(result: "AuditResult") -> list[dict[str, Any]]:
    """The significant group-vs-reference disparities, smallest adjusted p-value first (then the larger value):
    the order of the text and Markdown lists."""
    return sorted(result.significant(), key=lambda r: (r["p_value"], -abs(r["value"] or 0)))


def significant_by_priority(result: "AuditResult") -> list[dict[str, Any]]:
    """The same disparities in the report's order: by the catalogue's priority of metrics, single attributes
    before intersections, then by p-value (the HTML's top findings take the first row of each group)."""
    protected = set(result.protected)
    return sorted(result.significant(), key=lambda d: (
        DISPARITY_METRICS.index(d["metric"]) if d["metric"] in DISPARITY_METRICS else 99,
        d["attribute"] not in protected, d["p_value"]))


def four_fifths_below(result: "AuditResult") -> list[dict[str, Any]]:
    """Groups whose demographic-parity ratio is below the four-fifths threshold (flagged by the bias module)."""
    return [r for r in result.disparities_table.records()
            if r["comparison"] == "vs_reference" and r["metric"] == "demographic_parity_ratio" and r["flag"]]


def four_fifths_split(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Groups below the four-fifths rule, counted by verdict: only the significant ones are established."""
    order = ("significant", "not significant", "insufficient data", "not tested")
    found = [r["verdict"] for r in rows]
    return [(v, found.count(v)) for v in order + tuple(sorted(set(found) - set(order))) if found.count(v)]


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


TOTAL = "(total gap)"


def is_total(r: dict[str, Any]) -> bool:
    """The whole gap's row of a gap attribution (results before the ``total`` column named it by feature only)."""
    return bool(r["total"]) if "total" in r else r["feature"] == TOTAL


def ci_text(r: dict[str, Any]) -> str:
    return "" if r.get("ci_low") is None else f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"


def output_name(sec: "Section", result: "AuditResult") -> str:
    space = sec.get("output_space", "model output")
    return {"log-odds margin": "log-odds of the favourable outcome",
            "probability": "predicted probability of the favourable outcome",
            "decision score": "decision score of the favourable outcome"}.get(space, f"{space} (favourable outcome)")


def gap_sentence(rows: list[dict[str, Any]], out: str, top: int = 4) -> str:
    """"The gap of -0.18 [..] in mean <output> between A and B: f1 -0.09 [..], ..., other features +0.01."""
    total = next(r for r in rows if is_total(r))
    parts = [r for r in rows if not is_total(r)]
    shown = parts[:top]
    rest = sum(r["contribution"] for r in parts[top:])
    text = (f"The gap of {fmt(total['contribution'])}{ci_text(total)} in mean {out} between {total['group']} and "
            f"{total['reference']}: " + ", ".join(f"{r['feature']} {fmt(r['contribution'])}{ci_text(r)}" for r in shown))
    if parts[top:]:
        text += f", other features {fmt(rest)}"
    return text + "."


def top_driver(result: "AuditResult") -> str | None:
    """The top driver of the largest significant demographic-parity gap (for the summary), or None."""
    sec = result.section("explanations")
    if sec is None or sec.table("gap_attribution") is None:
        return None
    sig = [d for d in result.significant() if d["metric"] == "demographic_parity_difference"
           and d["attribute"] in result.protected]
    if not sig:
        return None
    d = max(sig, key=lambda r: abs(r["value"]))
    rows = [r for r in sec.table("gap_attribution").records() if r["attribute"] == d["attribute"]
            and r["group"] == d["group"] and r["population"] == "all"]
    drivers = [r for r in rows if not is_total(r)]
    total = next((r for r in rows if is_total(r)), None)
    if not drivers or total is None:
        return None
    r = drivers[0]
    return (f"Top driver of the largest significant gap ({d['group']} vs {d['reference']}): {r['feature']}, "
            f"{fmt(r['contribution'])}{ci_text(r)} of a {fmt(total['contribution'])} gap in mean "
            f"{output_name(sec, result)}.")
