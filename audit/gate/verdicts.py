"""The gate: a pure function of an audit result (and an optional baseline) and a policy.

A policy (TOML) lists rules over metrics. Each rule judges every matching row of the result with a
mode that decides how the confidence interval counts:

============  =====================================  ====================================  ====================
mode          pass                                   fail                                  inconclusive
============  =====================================  ====================================  ====================
point         point estimate on the right side       point estimate on the wrong side      never
significant   point estimate on the right side, or   whole interval on the wrong side      point wrong, interval
              interval straddles but point is fine   (noise alone cannot fail a build)     straddles
strict        whole interval on the right side       point estimate on the wrong side      point right, interval
                                                                                           straddles
============  =====================================  ====================================  ====================

A rule's verdict is its worst row (fail > inconclusive > insufficient data > pass). The policy says
whether inconclusive and insufficient data warn or fail the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import registry
from .._keys import split_key
from ..exceptions import ConfigError, InputError
from ..metrics import DISPARITY_METRICS, HIGHER_IS_BETTER, LOWER_IS_BETTER  # the catalogue
from .policy import JUDGED, VERDICT_ORDER, Policy, Rule, hint

if TYPE_CHECKING:  # pragma: no cover
    from ..record.result import ResultData as AuditResult


# -- evaluation (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    attribute: str
    group: str
    reference: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str
    message: str


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    verdict: str
    checks: tuple[Check, ...]
    blocking: bool  # does this verdict fail the gate?

    @property
    def failing_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict == self.verdict and c.verdict != "pass")


@dataclass(frozen=True)
class GateResult:
    passed: bool
    rules: tuple[RuleResult, ...]
    policy_source: str = "<policy>"
    baseline_fingerprint: str | None = None
    notes: tuple[str, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in VERDICT_ORDER}
        for r in self.rules:
            out[r.verdict] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "policy": self.policy_source, "counts": self.counts(), "notes": list(self.notes),
            "rules": [{
                "name": r.rule.name, "description": r.rule.describe(), "metric": r.rule.metric, "mode": r.rule.mode,
                "verdict": r.verdict, "blocking": r.blocking,
                "checks": [c.__dict__ for c in r.checks],
            } for r in self.rules],
        }


def _fmt(v: float | None) -> str:
    return "undefined" if v is None else f"{v:.4g}"


def _judge(rule: Rule, value: float, low: float | None, high: float | None) -> tuple[str, str]:
    """Verdict of one row against the rule's thresholds."""
    def ok(v: float) -> bool:
        return ((rule.min is None or v >= rule.min) and (rule.max is None or v <= rule.max)
                and (rule.max_abs is None or abs(v) <= rule.max_abs))

    def whole_interval_wrong() -> bool:
        return ((rule.min is not None and high < rule.min) or (rule.max is not None and low > rule.max)
                or (rule.max_abs is not None and (low > rule.max_abs or high < -rule.max_abs)))

    def whole_interval_right() -> bool:
        return ok(low) and ok(high)

    point_ok = ok(value)
    limits = ", ".join(f"{k} {v:g}" for k, v in (("min", rule.min), ("max", rule.max), ("max_abs", rule.max_abs))
                       if v is not None)
    interval = f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}] (limit: {limits})"
    if rule.mode == "point" or low is None or high is None:
        note = "" if rule.mode == "point" or low is not None else ": no interval, judged on the point estimate"
        return ("pass" if point_ok else "fail"), f"{interval}{note}"
    if rule.mode == "significant":
        if point_ok:
            return "pass", interval
        if whole_interval_wrong():
            return "fail", interval + ": the whole interval breaks the rule"
        return "inconclusive", interval + ": the estimate breaks the rule but the interval reaches the allowed side"
    if not point_ok:
        return "fail", interval
    if whole_interval_right():
        return "pass", interval
    return "inconclusive", interval + ": the interval reaches past the threshold (strict mode)"


def _badness(metric: str, v: float) -> float:
    if metric.endswith("_ratio"):
        return abs(1.0 - v)
    if metric in DISPARITY_METRICS:
        return abs(v)
    better = registry.gate_metrics()[metric][1].better if metric in registry.gate_metrics() else None
    if metric in HIGHER_IS_BETTER or better == "higher":
        return -v
    return v if metric in LOWER_IS_BETTER or better == "lower" else abs(v)


def _judge_worsening(rule: Rule, value: float, low: float | None, high: float | None, base: float) -> tuple[str, str]:
    b0 = _badness(rule.metric, base)
    candidates = [value] + [x for x in (low, high) if x is not None]
    if rule.metric in DISPARITY_METRICS and low is not None and high is not None:
        ideal = 1.0 if rule.metric.endswith("_ratio") else 0.0
        if low <= ideal <= high:
            candidates.append(ideal)
    best = min(_badness(rule.metric, c) for c in candidates)
    worst = max(_badness(rule.metric, c) for c in candidates)
    point = _badness(rule.metric, value) - b0
    msg = (f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}] vs baseline {_fmt(base)}: worse by {point:.4g} "
           f"(allowed {rule.max_worsening:g})")
    limit = rule.max_worsening
    if rule.mode == "point" or low is None:
        return ("fail" if point > limit else "pass"), msg
    if rule.mode == "significant":
        if point <= limit:
            return "pass", msg
        return ("fail", msg + " beyond its interval") if best - b0 > limit else ("inconclusive", msg)
    if point > limit:
        return "fail", msg
    return ("pass", msg) if worst - b0 <= limit else ("inconclusive", msg + " (strict: the interval reaches past it)")


def _members(result: "AuditResult", attribute: str) -> tuple[str, ...] | None:
    """The protected attributes a row's ``attribute`` combines (one for a single attribute), or None."""
    protected = set(result.protected)
    if attribute in protected:
        return (attribute,)
    parts = split_key(attribute)
    return tuple(parts) if len(parts) > 1 and set(parts) <= protected else None


def _finite(v: Any) -> bool:
    """A value a rule can judge: a finite number (None, NaN, infinities and anything else are undefined)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _rows(result: "AuditResult", rule: Rule) -> list[dict[str, Any]]:
    wanted = set(rule.attributes) if rule.attributes else set(result.protected)

    def attr_ok(attribute: str) -> bool:
        members = _members(result, attribute)
        if members is None:
            return False
        if len(members) > 1:
            return rule.intersections and set(members) <= wanted
        return attribute in wanted

    exported = registry.gate_metrics().get(rule.metric)
    if exported is not None:  # a metric of a module's section
        return [r for r in _section_rows(result, *exported) if attr_ok(r["attribute"])]
    if rule.is_disparity:
        comparison = "max_gap" if rule.scope == "max_gap" else "vs_reference"
        return _with_class([r for r in result.disparities_table.records()
                            if r["metric"] == rule.metric and r["comparison"] == comparison
                            and attr_ok(r["attribute"])], rule.classes)
    if rule.scope == "overall":
        return _with_class([r for r in result.metrics_table.records()
                            if r["metric"] == rule.metric and r["attribute"] == "(overall)"], rule.classes)
    return _with_class([r for r in result.metrics_table.records()
                        if r["metric"] == rule.metric and attr_ok(r["attribute"])], rule.classes)


def _with_class(rows: list[dict[str, Any]], classes: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """A multiclass result's rows name their class with the group (each class is its own check, and a baseline's
    row is matched by both); a rule's ``classes`` keeps only theirs."""
    if classes is not None:
        rows = [r for r in rows if r.get("class") is not None and str(r["class"]) in classes]
    return [r if r.get("class") is None else {**r, "group": f"{r['group']} [class {r['class']}]"} for r in rows]


def _section_rows(result: "AuditResult", module: "registry.Module", g: "registry.GateMetric"
                  ) -> list[dict[str, Any]]:
    """The rows of a module's section that a rule on its exported metric ``g`` judges, in the common row shape."""
    sec = result.section(module.name)
    table = sec.table(g.table) if sec is not None else None
    out = []
    for r in table.records() if table is not None else []:
        v = r.get(g.value)
        out.append({"attribute": r.get(g.attribute), "group": r.get(g.group) if g.group else g.group_label,
                    "value": v, "ci_low": r.get(g.ci_low), "ci_high": r.get(g.ci_high),
                    "status": "ok" if _finite(v) else "undefined",
                    "reason": r.get(g.reason) or ("" if _finite(v) else g.undefined)})
    return out


def _check_attributes(result: "AuditResult", policy: Policy) -> None:
    """A rule naming an attribute the audit does not have can judge nothing: a configuration error."""
    for rule in policy.rules:
        for a in rule.attributes or ():
            if a not in result.protected:
                raise ConfigError(f"{policy.source}: rule {rule.name!r}: attributes names {a!r}, which is not a "
                                  f"protected attribute of this audit{hint(a, result.protected)}; protected: "
                                  f"{', '.join(map(repr, result.protected))}.", code="policy_attribute")


def _nothing_matched(result: "AuditResult", rule: Rule) -> str:
    """Why no row of the result matches ``rule`` (the rule then blocks: it could judge nothing)."""
    wanted = rule.attributes or result.protected
    one_group = [a for a in wanted if sum(1 for g in result.groups_table.records() if g["attribute"] == a) < 2]
    exported = registry.gate_metrics().get(rule.metric)
    if exported is not None and result.section(exported[0].name) is None:
        module, g = exported
        return g.requires or f"{rule.metric} needs the {module.name} module: audit with {module.option}=True"
    if rule.classes is not None and result.task != "multiclass":
        return f"classes = {list(rule.classes)} applies to a multiclass audit; this one is {result.task}"
    if rule.classes is not None:
        known = set(map(str, result.target_info("classes", ()))) | {"(favourable)", "(macro)", "(all classes)"}
        unknown = [c for c in rule.classes if c not in known]
        if unknown:
            return f"classes {unknown} are not classes of this audit ({', '.join(sorted(known))})"
    if rule.is_disparity and one_group:
        return (f"no rows to judge: attribute(s) {', '.join(map(repr, one_group))} have a single group in this "
                "data, so there is nothing to compare")
    return "no rows of the result match this rule (check metric, attributes, intersections and scope)"


def evaluate(result: "AuditResult", policy: Policy, baseline: "AuditResult | None" = None, *,
             allow_different_data: bool = False) -> GateResult:
    """Judge ``result`` against ``policy``; a pure function (no I/O).

    Parameters
    ----------
    result : AuditResult
        The audit to judge.
    policy : Policy
        The rules.
    baseline : AuditResult, optional
        The previous model's audit of the same data, for ``max_worsening`` rules.
    allow_different_data : bool, default False
        Compare with a baseline whose data fingerprint differs.

    Returns
    -------
    GateResult
        Verdicts per rule and check; ``passed`` is False when a blocking rule failed, was inconclusive under
        ``on_inconclusive = "fail"``, or judged nothing.
    """
    notes = []
    _check_attributes(result, policy)
    if baseline is not None and baseline.data_fingerprint != result.data_fingerprint:
        if not allow_different_data:
            raise InputError("the baseline audit is of different data (data fingerprints differ: "
                             f"{baseline.data_fingerprint[:12]} vs {result.data_fingerprint[:12]}); comparing them "
                             "would mix a data change with a model change. Audit the same data, or pass "
                             "--allow-different-data to compare anyway.", code="baseline_data_differs")
        notes.append("the baseline audit is of different data; compared anyway (allow_different_data)")
    baseline_only = [r.name for r in policy.rules if r.max_worsening is not None and r.min is None
                     and r.max is None and r.max_abs is None]
    if baseline_only and baseline is None:
        notes.append(f"rules {', '.join(baseline_only)} compare with a baseline, and none was given: not applicable")
    base_index: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    if baseline is not None:
        for r in baseline.disparities_table.records():
            base_index[("d", r["attribute"], r["group"], r["metric"])] = r
        for r in baseline.metrics_table.records():
            base_index[("m", r["attribute"], r["group"], r["metric"])] = r
        for name, (module, g) in registry.gate_metrics().items():  # the modules' exported metrics
            for r in _section_rows(baseline, module, g):
                base_index[("s", r["attribute"], r["group"], name)] = r

    outcomes = []
    for rule in policy.rules:
        checks = []
        has_limits = rule.min is not None or rule.max is not None or rule.max_abs is not None
        if not has_limits and baseline is None:  # a regression rule without a baseline does not apply
            check = Check("", "", "", None, None, None, "not applicable",
                          "not applicable: no baseline (pass --baseline with the previous model's result JSON)")
            outcomes.append(RuleResult(rule, "not applicable", (check,), False))
            continue
        rows = _rows(result, rule)
        for row in rows:
            ref = row.get("reference", "")
            status = row.get("verdict") if rule.is_disparity else row.get("status")
            if not _finite(row["value"]) or status in ("insufficient data", "undefined"):
                why = row.get("reason") or status
                checks.append(Check(row["attribute"], row["group"], ref, row["value"], row["ci_low"], row["ci_high"],
                                    "insufficient data", f"not judged: {why}"))
                continue
            verdicts = []
            if not (_finite(row.get("ci_low")) and _finite(row.get("ci_high"))):  # an interval is both ends or none
                row = {**row, "ci_low": None, "ci_high": None}
            if has_limits:
                verdicts.append(_judge(rule, row["value"], row["ci_low"], row["ci_high"]))
            if rule.max_worsening is not None and baseline is not None:
                kind = "d" if rule.is_disparity else "s" if rule.metric in registry.gate_metrics() else "m"
                key = (kind, row["attribute"], row["group"], rule.metric)
                base = base_index.get(key)
                if base is None or not _finite(base["value"]):
                    verdicts.append(("insufficient data", "no baseline value for this row"))
                else:
                    verdicts.append(_judge_worsening(rule, row["value"], row["ci_low"], row["ci_high"],
                                                     base["value"]))
            verdict, message = max(verdicts, key=lambda vm: VERDICT_ORDER[vm[0]])
            checks.append(Check(row["attribute"], row["group"], ref, row["value"], row["ci_low"], row["ci_high"],
                                verdict, message))
        if not checks:
            verdict = "insufficient data"
            checks.append(Check("", "", "", None, None, None, verdict, _nothing_matched(result, rule)))
        else:
            verdict = max((c.verdict for c in checks), key=VERDICT_ORDER.__getitem__)
        judged = any(c.verdict in JUDGED for c in checks)
        # a rule that could judge nothing never passes quietly, whatever on_insufficient says
        blocking = (verdict == "fail" or (verdict == "inconclusive" and rule.on_inconclusive == "fail")
                    or (verdict == "insufficient data" and (rule.on_insufficient == "fail" or not judged)))
        outcomes.append(RuleResult(rule, verdict, tuple(checks), blocking))
    judged_any = any(c.verdict in JUDGED for o in outcomes for c in o.checks)
    if not policy.rules:
        notes.append("the policy has no [[rules]], only a [monitor] table: it judges a monitor's windows (audit "
                     "monitor, WindowedAudit.gate), not a single audit, so this gate cannot pass")
    elif not judged_any:
        notes.append("no rule could judge anything in this result, so the gate cannot pass")
    notes.extend(lost_output(result))
    return GateResult(passed=judged_any and not any(o.blocking for o in outcomes), rules=tuple(outcomes),
                      policy_source=policy.source,
                      baseline_fingerprint=None if baseline is None else baseline.data_fingerprint,
                      notes=tuple(notes))


def lost_output(result: "AuditResult") -> list[str]:
    """Warnings for output the user asked for and did not get: a module that failed, a part of the explanations
    that could not be computed."""
    out = [f"warning: the {e.module} module failed ({e.error_type}: {e.message}); its output is missing"
           for e in result.errors]
    for module in registry.modules():  # parts of a module that could not be computed
        sec = result.section(module.name)
        if sec is not None and module.lost is not None:
            out.extend(registry.view(module, "lost", sec))
    return out
