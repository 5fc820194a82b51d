"""Policies and the gate: a pure function of an audit result (and an optional baseline) and a policy.

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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from . import registry
from ._keys import split_key
from .metrics import DISPARITY_METRICS, HIGHER_IS_BETTER, LOWER_IS_BETTER, PERFORMANCE_METRICS  # the catalogue
from .exceptions import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from .results import AuditResult

MODES = ("point", "significant", "strict")
ACTIONS = ("warn", "fail")
VERDICT_ORDER = {"pass": 0, "not applicable": 1, "insufficient data": 2, "inconclusive": 3, "fail": 4}
JUDGED = ("pass", "inconclusive", "fail")

RULE_KEYS = {"name", "metric", "min", "max", "max_abs", "mode", "attributes", "intersections", "scope",
             "max_worsening", "on_inconclusive", "on_insufficient"}
TOP_KEYS = {"version", "defaults", "rules"}
DEFAULT_KEYS = {"mode", "on_inconclusive", "on_insufficient", "intersections"}


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    min: float | None = None
    max: float | None = None
    max_abs: float | None = None
    mode: str = "significant"
    attributes: tuple[str, ...] | None = None  # None: every protected attribute
    intersections: bool = False
    scope: str = "each_group"  # disparities: each_group | max_gap; performance: overall | each_group
    max_worsening: float | None = None
    on_inconclusive: str = "warn"
    on_insufficient: str = "warn"

    @property
    def is_disparity(self) -> bool:
        return self.metric in DISPARITY_METRICS

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{self.metric} >= {self.min:g}")
        if self.max is not None:
            parts.append(f"{self.metric} <= {self.max:g}")
        if self.max_abs is not None:
            parts.append(f"|{self.metric}| <= {self.max_abs:g}")
        if self.max_worsening is not None:
            parts.append(f"{self.metric} worsens by at most {self.max_worsening:g} vs baseline")
        return " and ".join(parts) + f" ({self.mode})"


@dataclass(frozen=True)
class Policy:
    """A validated policy: the rules a release must keep.

    Build it with :meth:`from_toml` or :meth:`from_dict`; every key is type-checked and impossible rules are
    refused with the key (and the line, for TOML).

    Examples
    --------
    >>> from audit.gate import Policy
    >>> policy = Policy.from_dict({"rules": [{"name": "four-fifths", "metric": "demographic_parity_ratio",
    ...                                       "min": 0.8}]})
    >>> [(r.name, r.mode) for r in policy.rules]
    [('four-fifths', 'significant')]
    >>> Policy.from_dict({"rules": [{"metric": "demographic_parity_ratio", "min": 0.9, "max": 0.8}]})
    Traceback (most recent call last):
    ...
    audit.exceptions.ConfigError: <policy>, rule 1: min = 0.9 is above max = 0.8: no value can pass; swap them.
    """

    rules: tuple[Rule, ...]
    source: str = "<policy>"

    @classmethod
    def from_toml(cls, path_or_text: str | Path) -> "Policy":
        """Read and validate a TOML policy from a file path (or TOML text containing a newline)."""
        text, source = _read(path_or_text)
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: invalid TOML: {exc}", code="policy_syntax") from None
        return cls.from_dict(data, source=source, text=text)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<policy>", text: str | None = None) -> "Policy":
        def where(rule_index: int | None, key: str | None) -> str:
            line = _line_of(text, rule_index, key) if text else None
            loc = f"{source}" + (f", line {line}" if line else "")
            return loc + (f", rule {rule_index + 1}" if rule_index is not None else "")

        unknown = set(data) - TOP_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"{where(None, key)}: unknown top-level key {key!r}{_hint(key, TOP_KEYS)}; "
                              f"expected {', '.join(sorted(TOP_KEYS))}.", code="policy_key")
        version = data.get("version", 1)
        if isinstance(version, bool) or version != 1:
            raise ConfigError(f"{where(None, 'version')}: policy version {version!r} is not supported (use 1).",
                              code="policy_version")
        defaults = data.get("defaults", {})
        if not isinstance(defaults, dict):
            raise ConfigError(f"{where(None, 'defaults')}: [defaults] must be a table.", code="policy_type")
        for key in defaults:
            if key not in DEFAULT_KEYS:
                raise ConfigError(f"{where(None, key)}: unknown key {key!r} in [defaults]{_hint(key, DEFAULT_KEYS)}; "
                                  f"expected {', '.join(sorted(DEFAULT_KEYS))}.", code="policy_key")
        rules_data = data.get("rules")
        if not isinstance(rules_data, list) or not rules_data:
            raise ConfigError(f"{source}: the policy has no rules; add at least one [[rules]] table with a metric "
                              "and a threshold (min, max or max_abs).", code="policy_empty")
        rules = []
        names = set()
        for i, raw in enumerate(rules_data):
            if not isinstance(raw, dict):
                raise ConfigError(f"{where(i, None)}: each rule must be a [[rules]] table.", code="policy_type")
            merged = {**{k: v for k, v in defaults.items()}, **raw}
            for key in raw:
                if key not in RULE_KEYS:
                    raise ConfigError(f"{where(i, key)}: unknown key {key!r}{_hint(key, RULE_KEYS)}; rule keys are "
                                      f"{', '.join(sorted(RULE_KEYS))}.", code="policy_key")
            metric = merged.get("metric")
            if not isinstance(metric, str):
                raise ConfigError(f"{where(i, 'metric')}: the rule needs metric = \"...\" (one of the disparity or "
                                  "performance metrics).", code="policy_value")
            known_metrics = DISPARITY_METRICS + PERFORMANCE_METRICS + tuple(registry.gate_metrics())
            if metric not in known_metrics:
                raise ConfigError(f"{where(i, 'metric')}: unknown metric {metric!r}{_hint(metric, known_metrics)}.",
                                  code="policy_value")
            for key in ("min", "max", "max_abs", "max_worsening"):
                v = merged.get(key)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                    raise ConfigError(f"{where(i, key)}: {key} must be a number; got {v!r}.", code="policy_value")
            for key in ("max_abs", "max_worsening"):
                if merged.get(key) is not None and merged[key] < 0:
                    raise ConfigError(f"{where(i, key)}: {key} = {merged[key]!r} can never hold (it is a size); give a "
                                      "non-negative number.", code="policy_value")
            if merged.get("min") is not None and merged.get("max") is not None and merged["min"] > merged["max"]:
                raise ConfigError(f"{where(i, 'min')}: min = {merged['min']!r} is above max = {merged['max']!r}: no "
                                  "value can pass; swap them.", code="policy_value")
            if merged.get("name") is not None and not isinstance(merged["name"], str):
                raise ConfigError(f"{where(i, 'name')}: name must be a string; got {merged['name']!r}.",
                                  code="policy_value")
            if all(merged.get(k) is None for k in ("min", "max", "max_abs", "max_worsening")):
                raise ConfigError(f"{where(i, 'metric')}: rule on {metric!r} has no threshold; give min, max, max_abs "
                                  "or max_worsening.", code="policy_value")
            for key, allowed in (("mode", MODES), ("on_inconclusive", ACTIONS), ("on_insufficient", ACTIONS)):
                v = merged.get(key)
                if v is not None and v not in allowed:
                    raise ConfigError(f"{where(i, key)}: {key} = {v!r} is invalid; choose one of "
                                      f"{', '.join(allowed)}.", code="policy_value")
            is_disp = metric in DISPARITY_METRICS
            scopes = ("each_group", "max_gap") if is_disp else ("overall", "each_group")
            scope = merged.get("scope", scopes[0])
            if scope not in scopes:
                raise ConfigError(f"{where(i, 'scope')}: scope = {scope!r} is invalid for {metric}; choose one of "
                                  f"{', '.join(scopes)}.", code="policy_value")
            attrs = merged.get("attributes", "all")
            if attrs == "all":
                attrs = None
            elif isinstance(attrs, str):
                attrs = (attrs,)
            elif isinstance(attrs, list) and all(isinstance(a, str) for a in attrs) and attrs:
                attrs = tuple(attrs)
            else:
                raise ConfigError(f"{where(i, 'attributes')}: attributes must be \"all\" or a list of column "
                                  f"names; got {attrs!r}.", code="policy_value")
            inter = merged.get("intersections", False)
            if not isinstance(inter, bool):
                raise ConfigError(f"{where(i, 'intersections')}: intersections must be true or false.",
                                  code="policy_value")
            name = merged.get("name") or f"{metric}"
            base, k = name, 2
            while name in names:
                name, k = f"{base} ({k})", k + 1
            names.add(name)
            rules.append(Rule(name=str(name), metric=metric, min=merged.get("min"), max=merged.get("max"),
                              max_abs=merged.get("max_abs"), mode=merged.get("mode", "significant"),
                              attributes=attrs, intersections=inter, scope=scope,
                              max_worsening=merged.get("max_worsening"),
                              on_inconclusive=merged.get("on_inconclusive", "warn"),
                              on_insufficient=merged.get("on_insufficient", "warn")))
        return cls(tuple(rules), source)


def _read(path_or_text: str | Path) -> tuple[str, str]:
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return path_or_text, "<policy>"
    path = Path(path_or_text)
    try:
        return path.read_bytes().decode("utf-8"), str(path)
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {str(path)!r}: {exc.strerror}.", code="policy_missing") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save the policy as UTF-8.",
                          code="policy_syntax") from None


def _hint(key: str, options: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _line_of(text: str, rule_index: int | None, key: str | None) -> int | None:
    """Line number of ``key`` inside the rule_index-th [[rules]] table (or at top level)."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    if rule_index is not None:
        headers = [i for i, ln in enumerate(lines) if re.match(r"\s*\[\[\s*rules\s*\]\]", ln)]
        if rule_index >= len(headers):
            return None
        start = headers[rule_index]
        end = headers[rule_index + 1] if rule_index + 1 < len(headers) else len(lines)
        if key is None:
            return start + 1
    if key is None:
        return None
    for i in range(start, end):
        if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", lines[i]):
            return i + 1
    return start + 1 if rule_index is not None else None


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
        return [r for r in result.disparities_table.records()
                if r["metric"] == rule.metric and r["comparison"] == comparison and attr_ok(r["attribute"])]
    if rule.scope == "overall":
        return [r for r in result.metrics_table.records()
                if r["metric"] == rule.metric and r["attribute"] == "(overall)"]
    return [r for r in result.metrics_table.records() if r["metric"] == rule.metric and attr_ok(r["attribute"])]


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
                                  f"protected attribute of this audit{_hint(a, result.protected)}; protected: "
                                  f"{', '.join(map(repr, result.protected))}.", code="policy_attribute")


def _nothing_matched(result: "AuditResult", rule: Rule) -> str:
    """Why no row of the result matches ``rule`` (the rule then blocks: it could judge nothing)."""
    wanted = rule.attributes or result.protected
    one_group = [a for a in wanted if sum(1 for g in result.groups_table.records() if g["attribute"] == a) < 2]
    exported = registry.gate_metrics().get(rule.metric)
    if exported is not None and result.section(exported[0].name) is None:
        module, g = exported
        return g.requires or f"{rule.metric} needs the {module.name} module: audit with {module.option}=True"
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
    if not judged_any:
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
            out.extend(module.lost(sec))
    return out


STARTER_POLICY = '''# fairness-audit policy (TOML). Checked by `audit run --policy` and `audit gate`.
# Each [[rules]] table judges one metric. Modes:
#   point        judge the point estimate
#   significant  fail only when the whole confidence interval breaks the rule (default: noise cannot fail a build)
#   strict       pass only when the whole interval keeps the rule (for high-stakes releases)
# Verdicts: pass, fail, inconclusive (the interval straddles the threshold), insufficient data.
# Disparities compare each group with its reference: a negative difference, or a ratio below 1, means the group
# fares worse (so `min = -0.1` catches harm on any difference); largest-gap rows (scope = "max_gap") are magnitudes.
version = 1

[defaults]
mode = "significant"
on_inconclusive = "warn"     # or "fail"
on_insufficient = "warn"     # or "fail"

[[rules]]
name = "four-fifths rule"
metric = "demographic_parity_ratio"   # each group's rate of favourable predictions / the reference group's
min = 0.8
attributes = "all"                    # or a list: ["sex", "race"]
intersections = false                 # true: judge sex & race groups too

[[rules]]
name = "equal opportunity"
metric = "equal_opportunity_difference"
max_abs = 0.1

[[rules]]
name = "overall accuracy"
metric = "accuracy"
scope = "overall"                     # or "each_group"
min = 0.8

# With --baseline previous.json: fail when a metric got worse by more than this beyond its interval.
[[rules]]
name = "no fairness regression"
metric = "demographic_parity_difference"
max_worsening = 0.02
'''
