"""Policies: the rules a release must keep, read from TOML or a dict, every key typed and impossible rules refused
with the key (and the TOML line). The starter policy ``audit init`` writes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .. import registry
from ..metrics import DISPARITY_METRICS, PERFORMANCE_METRICS  # the catalogue
from .._toml import read_toml
from ..exceptions import ConfigError

MODES = ("point", "significant", "strict")
ACTIONS = ("warn", "fail")
VERDICT_ORDER = {"pass": 0, "not applicable": 1, "insufficient data": 2, "inconclusive": 3, "fail": 4}
JUDGED = ("pass", "inconclusive", "fail")

RULE_KEYS = {"name", "metric", "min", "max", "max_abs", "mode", "attributes", "intersections", "scope", "classes",
             "max_worsening", "on_inconclusive", "on_insufficient"}
TOP_KEYS = {"version", "defaults", "rules", "monitor"}
MONITOR_KEYS = {"scope", "max_drift"}
MONITOR_SCOPES = ("last_window", "any_window")
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
    classes: tuple[str, ...] | None = None  # a multiclass audit's classes judged (None: every row's class)

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
        judged = "" if self.classes is None else f" [classes: {', '.join(self.classes)}]"
        return " and ".join(parts) + judged + f" ({self.mode})"


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
    #: how a monitor (a windowed audit) is judged: which windows the rules judge, and how many drift alerts pass
    monitor_scope: str = "last_window"
    max_drift: int = 0

    @classmethod
    def from_toml(cls, path_or_text: str | Path) -> "Policy":
        """Read and validate a TOML policy from a file path (or TOML text containing a newline)."""
        data, source, text = read_toml(path_or_text, "policy", "policy_syntax", missing_code="policy_missing")
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
            raise ConfigError(f"{where(None, key)}: unknown top-level key {key!r}{hint(key, TOP_KEYS)}; "
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
                raise ConfigError(f"{where(None, key)}: unknown key {key!r} in [defaults]{hint(key, DEFAULT_KEYS)}; "
                                  f"expected {', '.join(sorted(DEFAULT_KEYS))}.", code="policy_key")
        monitor = data.get("monitor", {})
        if not isinstance(monitor, dict):
            raise ConfigError(f"{where(None, 'monitor')}: [monitor] must be a table.", code="policy_type")
        for key in monitor:
            if key not in MONITOR_KEYS:
                raise ConfigError(f"{where(None, key)}: unknown key {key!r} in [monitor]{hint(key, MONITOR_KEYS)}; "
                                  f"expected {', '.join(sorted(MONITOR_KEYS))}.", code="policy_key")
        window_scope = monitor.get("scope", "last_window")
        if window_scope not in MONITOR_SCOPES:
            raise ConfigError(f"{where(None, 'scope')}: [monitor] scope = {window_scope!r} is invalid; choose one of "
                              f"{', '.join(MONITOR_SCOPES)}.", code="policy_value")
        max_drift = monitor.get("max_drift", 0)
        if isinstance(max_drift, bool) or not isinstance(max_drift, int) or max_drift < 0:
            raise ConfigError(f"{where(None, 'max_drift')}: [monitor] max_drift = {max_drift!r} is invalid; give the "
                              "number of drift alerts tolerated (an integer, 0 or more).", code="policy_value")
        rules_data = data.get("rules")
        if "monitor" in data and rules_data is None:  # a monitor's policy may judge drift alone
            return cls((), source, window_scope, max_drift)
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
                    raise ConfigError(f"{where(i, key)}: unknown key {key!r}{hint(key, RULE_KEYS)}; rule keys are "
                                      f"{', '.join(sorted(RULE_KEYS))}.", code="policy_key")
            metric = merged.get("metric")
            if not isinstance(metric, str):
                raise ConfigError(f"{where(i, 'metric')}: the rule needs metric = \"...\" (one of the disparity or "
                                  "performance metrics).", code="policy_value")
            known_metrics = DISPARITY_METRICS + PERFORMANCE_METRICS + tuple(registry.gate_metrics())
            if metric not in known_metrics:
                raise ConfigError(f"{where(i, 'metric')}: unknown metric {metric!r}{hint(metric, known_metrics)}.",
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
            classes = merged.get("classes", "all")
            if classes == "all":
                classes = None
            elif isinstance(classes, (str, int)) and not isinstance(classes, bool):
                classes = (str(classes),)
            elif isinstance(classes, list) and classes and all(isinstance(c, (str, int)) and not isinstance(c, bool)
                                                               for c in classes):
                classes = tuple(str(c) for c in classes)
            else:
                raise ConfigError(f"{where(i, 'classes')}: classes must be \"all\" or a list of a multiclass "
                                  f"audit's classes (\"(favourable)\" for its favourable view); got {classes!r}.",
                                  code="policy_value")
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
                              on_insufficient=merged.get("on_insufficient", "warn"), classes=classes))
        return cls(tuple(rules), source, window_scope, max_drift)


def hint(key: str, options: Iterable[str]) -> str:
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
