"""Chart geometry for the report's template-drawn SVG (dot-and-whisker rows, scatters with whiskers): formatting
and layout only."""

from __future__ import annotations

import math
from typing import Any

from .format import fmt


def nice_ticks(lo: float, hi: float, count: int = 5, zero: bool = False) -> tuple[float, float, list[float]]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering ``[lo, hi]``, the axis widened to
    the outer ticks; ``zero``: the axis includes 0 (a parity axis)."""
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * 0.999)
    start, stop = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    n = int(round((stop - start) / step))
    return start, stop, [round(start + k * step, 12) for k in range(n + 1)]


def tick_label(v: float, step: float, percent: bool = False) -> str:
    """A tick's label with as many decimals as its step needs (percentages of a proportion with ``percent``)."""
    if percent:
        v, step = 100 * v, 100 * step
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 2
    if step > 0 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-6:
        decimals += 1  # 2.5, 0.25: one decimal more
    text = f"{v:.{decimals}f}"
    text = text[1:] if text.startswith("-") and float(text) == 0 else text
    return text + ("%" if percent else "")


MARKER_WORDS = {"dot": "filled circle = estimate", "diamond": "diamond = significant difference",
                "hollow": "hollow circle = insufficient data"}


def _scale(lo: float, hi: float, pad: float = 0.05) -> tuple[float, float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    span = hi - lo
    return lo - pad * span, hi + pad * span


def dot_chart(title: str, rows: list[dict[str, Any]], ref_line: float | None, ref_label: str, desc: str,
              fixed: tuple[float, float] | None = None, percent: bool = False) -> dict[str, Any] | None:
    """Dot-and-whisker chart geometry: one row per item, x from the interval and the value (``percent``: a
    proportion, its ticks in percent)."""
    rows = [r for r in rows if r["value"] is not None]
    if not rows:
        return None
    vals = [x for r in rows for x in (r["value"], r["ci_low"], r["ci_high"]) if x is not None]
    if ref_line is not None:
        vals.append(ref_line)
    lo, hi, tick_values = nice_ticks(*(fixed if fixed else (min(vals), max(vals))), zero=ref_line == 0.0)
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
                      "ci_high": fmt(r["ci_high"]), "marker": r.get("marker", "dot"), "note": r.get("note", ""),
                      "ci": (f" [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]" if r["ci_low"] is not None
                             and r["ci_high"] is not None else " (no interval)")})
    step = tick_values[1] - tick_values[0] if len(tick_values) > 1 else 1.0
    ticks = [{"x": x(v), "label": tick_label(v, step, percent)} for v in tick_values]
    shown_title = title if len(title) <= 90 else title[:89] + "…"
    drawn = [m for m in ("dot", "diamond", "hollow") if any(it["marker"] == m for it in items)]
    desc = f"{desc} Markers: {'; '.join(MARKER_WORDS[m] for m in drawn)}."
    return {"title": title, "shown_title": shown_title, "desc": desc, "items": items, "ticks": ticks, "height": top + len(rows) * row_h + 30,
            "width": left + width + 30, "left": left, "right": left + width, "axis_y": top + len(rows) * row_h + 4,
            "ref_x": x(ref_line) if ref_line is not None else None, "ref_label": ref_label}


def _place_labels(points: list[dict[str, Any]], char_w: float = 7.0, line_h: float = 15.0) -> None:
    """Label positions that do not overlap one another (nor leave the plot): each label starts to the right of
    its point and moves down, then up, a line at a time, until it is clear."""
    placed: list[tuple[float, float, float, float]] = []
    for p in sorted(points, key=lambda q: (q["y"], q["x"])):
        w = char_w * len(p["label"]) + 4
        for dy in (-6, 12, -20, 26, -34, 40, -48, 54, -62, 68):
            x0, y0 = p["x"] + 8, p["y"] + dy - 11
            box = (x0, y0, x0 + w, y0 + line_h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        p["lx"], p["ly"] = round(box[0], 1), round(box[1] + 11, 1)


def scatter(title: str, desc: str, points: list[dict[str, Any]], xlabel: str, ylabel: str,
            x_percent: bool = False) -> dict[str, Any]:
    """Geometry of a scatter with whiskers on both axes, round ticks (0 always on the y axis: parity), labels
    placed clear of one another; ``x_percent``: the x axis is a proportion shown in percent."""
    left, right, top, bottom = 70, 560, 30, 300
    xs = [v for p in points for v in (p["x"], p["x_lo"], p["x_hi"]) if v is not None]
    ys = [v for p in points for v in (p["y"], p["y_lo"], p["y_hi"]) if v is not None]
    x0, x1, xt = nice_ticks(min(xs), max(xs))
    y0, y1, yt = nice_ticks(min(ys), max(ys), zero=True)

    def px(v: float | None) -> float | None:
        return None if v is None else round(left + (right - left) * (v - x0) / (x1 - x0), 1)

    def py(v: float | None) -> float | None:
        return None if v is None else round(bottom - (bottom - top) * (v - y0) / (y1 - y0), 1)

    def shown(v: float | None) -> str:
        return fmt(None if v is None else 100 * v, 1) + "%" if x_percent and v is not None else fmt(v)

    pts = [{"label": p["label"], "original": p.get("original", False), "x": px(p["x"]), "y": py(p["y"]),
            "x_lo": px(p["x_lo"]), "x_hi": px(p["x_hi"]), "y_lo": py(p["y_lo"]), "y_hi": py(p["y_hi"]),
            "xv": shown(p["x"]), "xlo_v": shown(p["x_lo"]), "xhi_v": shown(p["x_hi"]), "yv": fmt(p["y"]),
            "ylo_v": fmt(p["y_lo"]), "yhi_v": fmt(p["y_hi"])} for p in points]
    _place_labels(pts)
    xstep = xt[1] - xt[0] if len(xt) > 1 else 1.0
    ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
    width = max(760, int(max((p["lx"] + 7.0 * len(p["label"]) for p in pts), default=0)) + 10)
    return {"title": title, "desc": desc, "points": pts, "width": width, "height": bottom + 40, "left": left,
            "right": right, "top": top, "bottom": bottom, "xlabel": xlabel, "ylabel": ylabel,
            "xticks": [{"x": px(v), "label": tick_label(v, xstep, x_percent)} for v in xt],
            "yticks": [{"y": py(v), "label": tick_label(v, ystep)} for v in yt],
            "zero_y": py(0.0)}


def trend_panel(title: str, desc: str, points: list[dict[str, Any]], *, threshold: float | None = None,
                baseline: float | None = None, percent: bool = False, width: int = 360,
                height: int = 180) -> dict[str, Any]:
    """A trend over windows: ``points`` in time order (``value``, ``ci_low``, ``ci_high`` or None, ``alert``,
    ``label``); the line and the interval band break where a value is undefined; the policy's threshold and the
    reference window's value as horizontal lines."""
    left, right, top, bottom = 46.0, width - 34.0, 26.0, height - 30.0
    values = [v for p in points for v in (p["value"], p.get("ci_low"), p.get("ci_high")) if v is not None]
    values += [v for v in (threshold, baseline) if v is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo, hi, ticks = nice_ticks(lo, hi, 4)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    n = len(points)

    def px(k: int) -> float:
        return round(left + (right - left) * (k + 0.5) / max(n, 1), 2)

    def py(v: float) -> float:
        return round(bottom - (bottom - top) * (v - lo) / (hi - lo or 1.0), 2)

    segments: list[list[dict[str, Any]]] = [[]]
    for k, p in enumerate(points):
        if p["value"] is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append({"k": k, **p})
    lines, bands = [], []
    for seg in segments:
        if not seg:
            continue
        lines.append(" ".join(f"{px(p['k'])},{py(p['value'])}" for p in seg))
        ci = [p for p in seg if p.get("ci_low") is not None and p.get("ci_high") is not None]
        if len(ci) == len(seg):
            upper = [f"{px(p['k'])},{py(p['ci_high'])}" for p in seg]
            lower = [f"{px(p['k'])},{py(p['ci_low'])}" for p in reversed(seg)]
            if len(seg) == 1:  # one window: a short band around its point
                x0, x1 = px(seg[0]["k"]) - 4, px(seg[0]["k"]) + 4
                upper = [f"{x0},{py(seg[0]['ci_high'])}", f"{x1},{py(seg[0]['ci_high'])}"]
                lower = [f"{x1},{py(seg[0]['ci_low'])}", f"{x0},{py(seg[0]['ci_low'])}"]
            bands.append(" ".join(upper + lower))
    dots = [{"x": px(k), "y": py(p["value"]), "alert": bool(p.get("alert")), "label": p["label"],
             "value": fmt(p["value"]), "ci": "" if p.get("ci_low") is None else
             f" [{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]"} for k, p in enumerate(points) if p["value"] is not None]
    shown = sorted({0, n - 1, n // 2} if n > 2 else set(range(n)))
    xlabels = [{"x": px(k), "label": points[k]["tick"]} for k in shown]
    return {"title": title, "desc": desc, "width": width, "height": height, "left": left, "right": right, "top": top,
            "bottom": bottom, "lines": lines, "bands": bands, "dots": dots, "xlabels": xlabels,
            "yticks": [{"y": py(t), "label": tick_label(t, step, percent)} for t in ticks],
            "threshold": None if threshold is None else {"y": py(threshold), "label": fmt(threshold)},
            "baseline": None if baseline is None else {"y": py(baseline), "label": fmt(baseline)}}


def mix_bars(title: str, desc: str, windows: list[str], groups: list[str], shares: list[list[float]],
             width: int = 720, height: int = 200) -> dict[str, Any]:
    """Stacked bars: each window's rows split by group (``shares[k][g]`` in [0, 1]); the colour of a group comes
    from its position (a legend names it)."""
    left, right, top, bottom = 40.0, width - 34.0, 26.0, height - 30.0
    n = len(windows)
    slot = (right - left) / max(n, 1)
    bars = []
    for k, row in enumerate(shares):
        y = bottom
        for g, share in enumerate(row):
            h = round((bottom - top) * share, 2)
            if h > 0:
                bars.append({"x": round(left + k * slot + slot * 0.1, 2), "y": round(y - h, 2),
                             "w": round(slot * 0.8, 2), "h": h, "c": g % 8,
                             "label": f"{windows[k]}: {groups[g]} {100 * share:.1f}%"})
            y -= h
    shown = sorted({0, n - 1, n // 2} if n > 2 else set(range(n)))
    return {"title": title, "desc": desc, "width": width, "height": height, "left": left, "right": right, "top": top,
            "bottom": bottom, "bars": bars,
            "xlabels": [{"x": round(left + (k + 0.5) * slot, 2), "label": windows[k]} for k in shown],
            "yticks": [{"y": round(bottom - (bottom - top) * t, 2), "label": f"{int(100 * t)}%"}
                       for t in (0, 0.25, 0.5, 0.75, 1.0)],
            "legend": [{"c": g % 8, "label": name} for g, name in enumerate(groups)]}
