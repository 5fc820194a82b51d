"""Explanations: SHAP in the user's own columns (globally, by group, as gap attribution), LIME cases, and a proxy
scan. shap and lime are imported only when explanations run (``run_audit(..., explain=True)``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigError
from ..params import Boolean, Integer, Number, Satisfies, check_all


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
        if isinstance(self.cases, list):
            object.__setattr__(self, "cases", tuple(self.cases))
        check_all(self, CONSTRAINTS, prefix="explain option ")

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


#: every explain option's constraint, in the order they are checked (one message format: see ``audit.params``)
CONSTRAINTS = {
    "rows": Integer(10, 1_000_000),
    "agnostic_rows": Integer(1, 100_000),
    "background": Integer(1, 100_000),
    "small_group": Integer(0, 1_000_000),
    "lime_cases": Integer(0, 100),
    "lime_samples": Integer(100, 1_000_000),
    "lime_seeds": Integer(1, 20),
    "top_features": Integer(1, 100),
    "proxy_rows": Integer(100, 10_000_000),
    "agnostic_seconds": Number(0, 1_000_000, low_open=True, none_ok=True,
                               text="a number of seconds above 0 (at most 1,000,000), or None for no time limit"),
    "proxy": Boolean(),
    "progress": Boolean(none_ok=True),
    "cases": Satisfies(lambda v: isinstance(v, tuple) and all(isinstance(c, int) and not isinstance(c, bool)
                                                              and c >= 0 for c in v),
                       "row positions (integers >= 0)"),
}
