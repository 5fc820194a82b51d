"""Alerts: each window's alert metrics tested against the reference window's. The change, its interval and a
two-sided Wald test whose standard error combines the two windows' bootstrap standard errors (independent
resamples of disjoint rows); ratios are tested on the log scale. The p-values are Holm-adjusted across the whole
family (every tested window x alert metric x group), so that a monitor with no drift raises any alert with
probability at most ``1 - confidence``; ``persistence=k`` alerts only after k consecutive windows whose change is
significant in the same direction. Pure: windows in, rows out."""

from __future__ import annotations

import math
from typing import Any, Sequence

ALERT_COLUMNS = ("window_start", "attribute", "group", "reference", "metric", "reference_value", "value", "change",
                 "ci_low", "ci_high", "p_value", "verdict", "reason")


def _rows(window: Any, metrics: Sequence[str]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["attribute"], r["group"], r["metric"]): r for r in window.result.disparities_table.records()
            if r["comparison"] == "vs_reference" and r["metric"] in metrics}


def alerts(windows: Sequence[Any], reference: Any, mode: str, metrics: Sequence[str], confidence: float,
           persistence: int) -> tuple[list[dict[str, Any]], int]:
    """The alert rows of every window (in time order) and the size of the tested family."""
    from scipy.stats import norm

    from ..stats.significance import adjust

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    rows = [_rows(w, metrics) for w in windows]
    spread = [{(a, g, m): (se, sl) for a, g, m, se, sl in w.spread} for w in windows]
    ref_rows = None if reference is None else _rows(reference, metrics)
    ref_spread = None if reference is None else {(a, g, m): (se, sl) for a, g, m, se, sl in reference.spread}
    ok = [w.status == "ok" for w in windows]
    first = next((k for k, good in enumerate(ok) if good), None)
    keys = sorted({key for r in rows for key in r}, key=lambda k: (k[0], k[2], k[1]))
    out: list[dict[str, Any]] = []
    for k, w in enumerate(windows):
        if mode == "first" and k == first:
            continue
        ref_k = None if mode == "range" else (first if mode == "first" else k - 1)
        for key in keys:
            r = rows[k].get(key)
            if r is None:
                continue
            if mode == "range":
                ref, ref_sp = ref_rows.get(key), ref_spread
            else:
                has_ref = ref_k is not None and ref_k >= 0
                ref, ref_sp = (rows[ref_k].get(key), spread[ref_k]) if has_ref else (None, None)
            attribute, group, metric = key
            base = {"window_start": w.start, "attribute": attribute, "group": group, "reference": r["reference"],
                    "metric": metric, "value": r["value"], "reference_value": None if ref is None else ref["value"],
                    "change": None, "ci_low": None, "ci_high": None, "p_value": None}
            if not ok[k] or ref is None or (mode != "range" and not ok[ref_k]):
                has_window = mode == "range" or (ref_k is not None and ref_k >= 0)
                why = ("the window or its reference has too few rows" if ref is not None or not ok[k]
                       else "the group has no rows in the reference window" if has_window else "no reference window")
                out.append({**base, "verdict": "insufficient data", "reason": why})
                continue
            if r["verdict"] in ("insufficient data", "undefined") or ref["verdict"] in ("insufficient data",
                                                                                         "undefined"):
                out.append({**base, "verdict": "insufficient data",
                            "reason": "a group has too little data in the window or the reference"})
                continue
            if ref["reference"] != r["reference"]:
                out.append({**base, "verdict": "not tested", "reason": f"the reference group changed "
                            f"({ref['reference']} to {r['reference']}): the disparities compare different groups"})
                continue
            sw, sr = spread[k].get(key), ref_sp.get(key)
            ratio = metric.endswith("_ratio")
            usable = (sw is not None and sr is not None and r["value"] is not None and ref["value"] is not None
                      and all(math.isfinite(v) and v > 0 for v in (sw[0], sr[0]) + ((sw[1], sr[1]) if ratio else ()))
                      and (not ratio or (r["value"] > 0 and ref["value"] > 0)))
            if not usable:
                out.append({**base, "verdict": "not tested", "reason": "no resamples to test with (n_bootstrap=0), "
                            "or the resamples cannot move a value"})
                continue
            change = r["value"] - ref["value"]
            se = math.hypot(sw[0], sr[0])
            if ratio:  # ratios are tested on the log scale, where their sampling is nearly symmetric
                p = float(2 * norm.sf(abs(math.log(r["value"] / ref["value"])) / math.hypot(sw[1], sr[1])))
            else:
                p = float(2 * norm.sf(abs(change) / se))
            out.append({**base, "change": change, "ci_low": change - z * se, "ci_high": change + z * se,
                        "p_value": p, "verdict": "tested", "reason": ""})
    tested = [a for a in out if a["verdict"] == "tested"]
    if tested:
        for a, p in zip(tested, adjust([a["p_value"] for a in tested], "holm")):
            a["p_value"] = float(p)
    alpha = 1 - confidence
    streak: dict[tuple[str, str, str], tuple[int, int]] = {}  # (attribute, group, metric) -> (sign, run length)
    for a in out:  # windows in time order
        key = (a["attribute"], a["group"], a["metric"])
        if a["verdict"] != "tested":
            streak[key] = (0, 0)
            continue
        sign = 1 if a["change"] > 0 else -1
        if a["p_value"] < alpha:
            prev_sign, run = streak.get(key, (0, 0))
            run = run + 1 if prev_sign == sign else 1
            streak[key] = (sign, run)
            drift = run >= persistence
            a["verdict"] = "drift" if drift else "no drift"
            if not drift:
                a["reason"] = f"significant, {run} of {persistence} consecutive windows"
        else:
            streak[key] = (0, 0)
            a["verdict"] = "no drift"
    return out, len(tested)
