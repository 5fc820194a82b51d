"""JUnit XML: one test case per policy rule; failures carry the numbers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:  # pragma: no cover
    from ..gate import GateResult
    from ..record.result import ResultData as AuditResult

_NOT_XML = re.compile("[\ufffe\uffff]")


def xml_text(s: object) -> str:
    """XML-safe text: control, bidi and surrogate characters shown as escapes (see ``report.text.visible``),
    our own line breaks kept."""
    from .format import visible

    return _NOT_XML.sub("\ufffd", visible(str(s), keep_newlines=True))


def xml_attr(s: object) -> str:
    return quoteattr(xml_text(s))


def rule_case(r: Any, prefix: str = "") -> tuple[str, bool, bool]:
    """One policy rule's test case (``prefix``: before the rule's name, such as a monitor's window), and whether
    it failed or was skipped (a non-blocking verdict other than pass)."""
    lines = [f"{c.verdict}: " + (f"{c.attribute} {c.group}" + (f" vs {c.reference}" if c.reference else "")
                                  + ": " if c.attribute else "") + c.message for c in r.checks]
    body = "\n".join(lines)
    shown = r.failing_checks[:5]
    detail = "; ".join((f"{c.attribute}={c.group}: " if c.attribute else "") + c.message for c in shown)
    name = xml_attr(prefix + r.rule.name)
    classname = xml_attr(f"fairness_audit.{r.rule.metric}")
    inner = ""
    if r.blocking:
        inner = (f'<failure type={xml_attr(r.verdict)} message={xml_attr(f"{r.rule.describe()}: {r.verdict}: {detail}")}>'
                 f"{escape(xml_text(body))}</failure>")
    elif r.verdict != "pass":
        inner = f'<skipped message={xml_attr(f"{r.verdict} (warning): {r.rule.describe()}: {detail}")}/>'
    return (f'    <testcase name={name} classname={classname} time="0">{inner}</testcase>', r.blocking,
            not r.blocking and r.verdict != "pass")


def render_junit(result: "AuditResult", gate: "GateResult") -> str:
    cases = []
    failures = skipped = 0
    for r in gate.rules:
        case, failed, skipped_ = rule_case(r)
        cases.append(case)
        failures += failed
        skipped += skipped_
    stamp = xml_attr(result.created[:19])
    props = [("policy", gate.policy_source), ("data_fingerprint", result.data_fingerprint),
             ("rows", str(result.n_rows)), ("label", result.label), ("protected", ", ".join(result.protected)),
             ("model", result.model.description), ("gate", "passed" if gate.passed else "failed")]
    prop_xml = "\n".join(f"      <property name={xml_attr(k)} value={xml_attr(v)}/>" for k, v in props)
    out = "\n".join([f"{c.verdict}: {r.rule.name}: " + (f"{c.attribute} {c.group}: " if c.attribute else "")
                     + c.message for r in gate.rules for c in r.checks] + [f"note: {n}" for n in gate.notes])
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<testsuites>\n"
        f'  <testsuite name="fairness-audit" package="fairness-audit" id="0" timestamp={stamp} hostname="localhost" '
        f'tests="{len(gate.rules)}" failures="{failures}" errors="0" skipped="{skipped}" time="0">\n'
        f"    <properties>\n{prop_xml}\n    </properties>\n"
        + "\n".join(cases) + "\n"
        f"    <system-out>{escape(xml_text(out))}</system-out>\n"
        "    <system-err></system-err>\n"
        "  </testsuite>\n"
        "</testsuites>\n"
    )
