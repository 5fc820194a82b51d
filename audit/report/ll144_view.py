"""The NYC Local Law 144 bias-audit page (formatting only: the tables come from ``audit.ll144``), rendered by
jinja2 with autoescaping, self-contained and printable."""

from __future__ import annotations

from typing import Any

from .html import template_env

SECTIONS = (("sex", "Sex"), ("race_ethnicity", "Race/ethnicity"), ("intersectional", "Intersectional categories"))


def _plain(v: Any) -> Any:
    """A table cell as a plain value (NaN: None, shown blank)."""
    import math

    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and math.isnan(v) else v


def render_ll144(tables: dict[str, Any], label: str, confidence: float, exclude_small: bool) -> str:
    """The page of :func:`audit.ll144.ll144_tables`' output."""
    rows = {k: [{c: _plain(v) for c, v in r.items()} for r in t.to_dict("records")]
            for k, t in tables.items() if k != "facts"}
    sections = [(k, t) for k, t in SECTIONS if k in rows or (k == "intersectional" and "intersectional"
                                                               in tables["facts"])]
    return template_env().get_template("ll144.html.j2").render(
        tables=rows, facts=tables["facts"], label=label, sections=sections, ci_pct=f"{100 * confidence:g}",
        exclude_small=exclude_small)
