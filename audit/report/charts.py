"""Chart geometry for the report's template-drawn SVG (dot-and-whisker rows, scatters with whiskers): formatting
and layout only."""

from __future__ import annotations

import math
from typing import Any

from .format import fmt


def _scale(lo: float, hi: float, pad: float = 0.05) -> tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    span = hi - lo
    return lo - pad * span, hi + pad * span


def dot_chart(title: str, rows: list[dict[str, Any]], ref_line: float | None, ref_label: str, desc: str,
           fixed: tuple[float, float] | None = None) -> dict[str, Any] | None:
    """Dot-and-whisker chart geometry: one row per item, x from the interval and the value."""
    rows = [r for r in rows if r["value"] is not None]
    if not rows:
        return None
    vals = [x for r in rows for x in (r["value"], r["ci_low"], r["ci_high"]) if x is not None]
    if ref_line is not None:
        vals.append(ref_line)
    lo, hi = fixed if fixed else _scale(min(vals), max(vals))
    left, width, row_h, top = 230, 420, 22, 30

    def x(v: float | None) -> float | None:
        if v is None:
            return None
        return round(left + width * (min(max(v, lo), hi) - lo) / (hi - lo), 1)

    items = []
    for i, r in enumerate(rows):
        label = str(r["label"])
        items.append({"label": label if len(label) <= 34 else label[:33] + "…", "full": label,
                      "y": top + i * row_h + row_h // 2, "x": x(r["value"]), "x_lo": x(r["ci_low"]),
                      "x_hi": x(r["ci_high"]), "value": fmt(r["value"]), "ci_low": fmt(r["ci_low"]),
                      "ci_high": fmt(r["ci_high"]), "marker": r.get("marker", "dot"), "note": r.get("note", "")})
    ticks = [{"x": x(lo + (hi - lo) * k / 4), "label": f"{lo + (hi - lo) * k / 4:.2f}"} for k in range(5)]
    shown_title = title if len(title) <= 90 else title[:89] + "…"
    return {"title": title, "shown_title": shown_title, "desc": desc, "items": items, "ticks": ticks, "height": top + len(rows) * row_h + 30,
            "width": left + width + 30, "left": left, "right": left + width, "axis_y": top + len(rows) * row_h + 4,
            "ref_x": x(ref_line) if ref_line is not None else None, "ref_label": ref_label}


def scatter(title: str, desc: str, points: list[dict[str, Any]], xlabel: str, ylabel: str) -> dict[str, Any]:
    """Geometry of a scatter with whiskers on both axes (formatting only)."""
    left, right, top, bottom = 70, 560, 30, 300
    xs = [v for p in points for v in (p["x"], p["x_lo"], p["x_hi"]) if v is not None]
    ys = [v for p in points for v in (p["y"], p["y_lo"], p["y_hi"]) if v is not None] + [0.0]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    padx, pady = (x1 - x0) * 0.08 or 0.01, (y1 - y0) * 0.08 or 0.01
    x0, x1, y0, y1 = x0 - padx, x1 + padx, y0 - pady, y1 + pady

    def px(v: float | None) -> float | None:
        return None if v is None else round(left + (right - left) * (v - x0) / (x1 - x0), 1)

    def py(v: float | None) -> float | None:
        return None if v is None else round(bottom - (bottom - top) * (v - y0) / (y1 - y0), 1)

    pts = [{"label": p["label"], "original": p.get("original", False), "x": px(p["x"]), "y": py(p["y"]),
            "x_lo": px(p["x_lo"]), "x_hi": px(p["x_hi"]), "y_lo": py(p["y_lo"]), "y_hi": py(p["y_hi"]),
            "xv": fmt(p["x"]), "xlo_v": fmt(p["x_lo"]), "xhi_v": fmt(p["x_hi"]), "yv": fmt(p["y"]),
            "ylo_v": fmt(p["y_lo"]), "yhi_v": fmt(p["y_hi"])} for p in points]
    return {"title": title, "desc": desc, "points": pts, "width": 760, "height": bottom + 40, "left": left,
            "right": right, "top": top, "bottom": bottom, "xlabel": xlabel, "ylabel": ylabel,
            "xticks": [{"x": px(x0 + (x1 - x0) * k / 4), "label": f"{x0 + (x1 - x0) * k / 4:.3f}"} for k in range(5)],
            "yticks": [{"y": py(y0 + (y1 - y0) * k / 4), "label": f"{y0 + (y1 - y0) * k / 4:.3f}"} for k in range(5)],
            "zero_y": py(0.0) if y0 <= 0 <= y1 else None}
