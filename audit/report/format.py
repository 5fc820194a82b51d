"""Shared formatting of every output (text, Markdown, JUnit, HTML): numbers, p-values, intervals, and user strings
made visible (control, bidi and separator characters shown as escapes). No computation."""

from __future__ import annotations

import re
from typing import Any


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
    """A number as shown: ``digits`` decimals (never "-0.000": a value that rounds to zero has no sign), counts
    with thousands separators."""
    if v is None:
        return "undefined"
    if isinstance(v, float):
        text = f"{v:.{digits}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def fmt_p(p: Any) -> str:
    if p is None:
        return "p n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def interval(row: dict[str, Any]) -> str:
    if row.get("ci_low") is None:
        return ""
    return f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def md(s: Any) -> str:
    """User text in Markdown (a table cell or a sentence): every ASCII punctuation character is backslash-escaped
    (so no link, image, emphasis, HTML tag, entity or table break can form), control and bidi characters are
    shown as escapes, and line breaks become spaces."""
    text = " ".join(visible(str(s), keep_newlines=True).split())
    return _MD_SPECIAL.sub(r"\\\1", text)
