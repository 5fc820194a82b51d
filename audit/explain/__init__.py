"""Explanations: SHAP in the user's own columns (globally, by group, as gap attribution), LIME cases, and a proxy
scan. shap and lime are imported only when explanations run (``run_audit(..., explain=True)``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigError


@dataclass(frozen=True)
class ExplainConfig:
    """Budgets of the explanation module, all validated (``run_audit(explain={...})`` or ``[audit.explain]``).

    Attributes
    ----------
    rows : int
        Rows explained with SHAP, at most, in all: a seeded sample stratified by group (every group represented
        while the budget allows; groups of up to ``small_group`` rows whole, the rest shared in proportion to
        size). Tree and linear models. The section's ``allocation`` states how it was shared.
    agnostic_rows : int
        Rows explained when the model needs shap's model-agnostic explainer (slow: each row costs about
        2 x features x background model calls).
    agnostic_seconds : float, optional
        A time budget for the model-agnostic explainer: it explains rows a few at a time, in turn from every
        combination of groups, and stops cleanly once this is spent (the section says how many rows it
        explained; a rerun on another machine may explain a different number). None: no time limit.
    background : int
        Background rows (linear models: their mean; model-agnostic: the masker's data).
    small_group : int
        Finest groups with at most this many rows are explained whole.
    lime_cases : int
        LIME cases chosen automatically (borderline, false negative, false positive of the group with the
        worst disparity).
    lime_samples : int
        Perturbed samples per LIME explanation.
    lime_seeds : int
        Each case is explained with this many seeds; ``stability`` is the overlap of their top features.
    cases : tuple of int
        Rows the user names (positions in the data), explained with LIME too.
    top_features : int
        Features shown per LIME case and counted as "important" by the proxy scan.
    proxy : bool
        Run the proxy scan.
    proxy_rows : int
        Rows the proxy scan uses (a seeded sample).
    progress : bool, optional
        A progress bar on stderr (None: only when stderr is a terminal).

    Examples
    --------
    >>> from audit.explain import ExplainConfig
    >>> ExplainConfig.build({"rows": 500, "lime_cases": 0}).rows
    500
    """

    rows: int = 1000
    agnostic_rows: int = 200
    agnostic_seconds: float | None = None
    background: int = 100
    small_group: int = 50
    lime_cases: int = 3
    lime_samples: int = 1000
    lime_seeds: int = 3
    cases: tuple[int, ...] = ()
    top_features: int = 5
    proxy: bool = True
    proxy_rows: int = 5000
    progress: bool | None = None

    def __post_init__(self) -> None:
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        limits = {"rows": (10, 1_000_000), "agnostic_rows": (1, 100_000), "background": (1, 100_000),
                  "small_group": (0, 1_000_000), "lime_cases": (0, 100), "lime_samples": (100, 1_000_000),
                  "lime_seeds": (1, 20), "top_features": (1, 100), "proxy_rows": (100, 10_000_000)}
        for name, (lo, hi) in limits.items():
            v = getattr(self, name)
            if not is_int(v) or not lo <= v <= hi:
                raise ConfigError(f"explain option {name}={v!r} is invalid: give an integer from {lo:,} to {hi:,}.",
                                  code="invalid_option")
        sec = self.agnostic_seconds
        if sec is not None and not (isinstance(sec, (int, float)) and not isinstance(sec, bool)
                                    and 0 < sec <= 1_000_000 and sec == sec):
            raise ConfigError(f"explain option agnostic_seconds={sec!r} is invalid: give a number of seconds "
                              "above 0 (at most 1,000,000), or None for no time limit.", code="invalid_option")
        if not isinstance(self.proxy, bool):
            raise ConfigError(f"explain option proxy={self.proxy!r} is invalid: give True or False.",
                              code="invalid_option")
        if self.progress is not None and not isinstance(self.progress, bool):
            raise ConfigError(f"explain option progress={self.progress!r} is invalid: give True, False or None.",
                              code="invalid_option")
        cases = self.cases
        if isinstance(cases, list):
            object.__setattr__(self, "cases", tuple(cases))
        if not all(is_int(c) and c >= 0 for c in self.cases):
            raise ConfigError(f"explain option cases={self.cases!r} is invalid: give row positions (integers >= 0).",
                              code="invalid_option")

    @classmethod
    def build(cls, value: Any) -> "ExplainConfig | None":
        """``explain=`` as given to run_audit: False/None (off), True (defaults), a dict of options, or a config."""
        from ..config import module_switch

        def from_dict(d: dict[str, Any]) -> "ExplainConfig":
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(d) - known)
            if unknown:
                raise ConfigError(f"unknown explain option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.",
                                  code="unknown_option")
            return cls(**d)

        return module_switch(value, cls, "explain", from_dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cases"] = list(self.cases)
        return d
