"""The model card in Markdown and HTML (formatting only: the card's content comes from ``audit.model_card``). Every
string, the owner's prose included, is escaped: Markdown punctuation backslash-escaped, HTML autoescaped."""

from __future__ import annotations

from typing import Any

from .format import md
from .html import template_env

#: what the card shows for a required field of prose the owner did not give
NOT_STATED = "Not stated by the model's owner."


def prose_blocks(text: str) -> list[tuple[str, Any]]:
    """The owner's prose as blocks: ("p", text) for a paragraph, ("ul", [items]) for lines starting with "- "."""
    blocks: list[tuple[str, Any]] = []
    for para in [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]:
        lines = [ln.strip() for ln in para.split("\n") if ln.strip()]
        if lines and all(ln.startswith(("- ", "* ")) for ln in lines):
            blocks.append(("ul", [ln[2:].strip() for ln in lines]))
        else:
            blocks.append(("p", " ".join(lines)))
    return blocks


def _md_prose(text: str) -> list[str]:
    out: list[str] = []
    for kind, body in prose_blocks(text):
        if kind == "ul":
            out.extend(f"- {md(item)}" for item in body)
        else:
            out.append(md(body))
        out.append("")
    return out


def _md_table(t: Any) -> list[str]:
    out = [f"*{md(t.caption)}*", "", "| " + " | ".join(md(c) for c in t.columns) + " |",
           "|" + "---|" * len(t.columns)]
    out.extend("| " + " | ".join(md(c) for c in row) + " |" for row in t.rows)
    out.append("")
    return out


def card_markdown(card: Any) -> str:
    out = [f"# {md(card.title)}", "", f"Generated {md(card.created)} by {md(card.tool)} from the audit's result and "
           "the owner's text. Figures are the audit's; prose is the owner's.", ""]
    for n, sec in enumerate(card.sections, 1):
        out += [f"## {n}. {md(sec.title)}", ""]
        for label, text in sec.prose:
            out += [f"**{md(label)}**", ""] + _md_prose(text)
        for label, value in sec.facts:
            out.append(f"- {md(label)}: {md(value)}")
        if sec.facts:
            out.append("")
        for f in sec.findings:
            out += [md(f), ""]
        for t in sec.tables:
            out += _md_table(t)
    out += [f"## {len(card.sections) + 1}. EU AI Act, Annex IV", ""] + _md_table(card.annex_iv)
    return "\n".join(out).rstrip("\n") + "\n"


def card_html(card: Any) -> str:
    sections = [{"n": n, "key": s.key, "title": s.title, "facts": s.facts, "findings": s.findings,
                 "tables": s.tables, "prose": [(label, prose_blocks(text), text == NOT_STATED)
                                               for label, text in s.prose]}
                for n, s in enumerate(card.sections, 1)]
    return template_env().get_template("model_card.html.j2").render(card=card, sections=sections)


