"""Frozen, validated audit options."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .exceptions import ConfigError
from .params import Boolean, Integer, Number, Options, Satisfies, check_all

CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "none")


def module_switch(value: Any, cls: type, name: str, from_dict: Any) -> Any:
    """An optional module's argument to run_audit: None/False (off), True (defaults), an options object, or a dict
    of options (``from_dict``)."""
    if value is None or value is False:
        return None
    if value is True:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return from_dict(value)
    raise ConfigError(f"{name}={value!r} is invalid: give True, False, or a dict of {name} options.",
                      code="invalid_option")


@dataclass(frozen=True)
class AuditConfig:
    """Options of one audit. Every field is validated on construction.

    Attributes
    ----------
    threshold : float
        Score at or above which a probability counts as a positive prediction.
    seed : int
        Seed of every random step (bootstrap, determinism check sample).
    n_bootstrap : int
        Bootstrap resamples for confidence intervals (0 disables intervals).
    confidence : float
        Confidence level of the intervals; ``1 - confidence`` is the significance level.
    min_group_size : int
        Groups with fewer rows are flagged ``insufficient data``.
    min_positives, min_negatives : int
        Groups with fewer true positives / negatives are flagged too.
    max_groups : int
        A protected attribute with more distinct values is refused (bin it first).
    intersections : bool
        Audit intersections of the protected attributes (up to ``intersection_order`` at a time).
    intersection_order : int
        Largest number of attributes combined in one intersection.
    max_intersection_groups : int
        Intersections with more groups are skipped with a warning.
    correction : {"holm", "bonferroni", "fdr_bh", "none"}
        Multiple-comparison correction of disparity p-values across the audit.
    four_fifths : float
        The disparate-impact threshold of the four-fifths rule.
    calibration_bins : int
        Equal-width bins of the expected calibration error.
    exact_score_rows : int
        Groups with at most this many rows get score-metric replicates computed exactly on their resampled
        rows; larger groups are resampled on cells of their own scores (``score_bins``).
    score_bins : int
        Quantile bins of a large group's own scores on which its score metrics (AUC, AP, Brier, calibration)
        are resampled in the bootstrap.
    check_determinism_rows : int
        Rows re-predicted to detect a non-deterministic model (0 disables).
    score_buckets : int
        Equal-width score buckets of an engine scan (data scanned by DuckDB or Spark); ROC AUC and average
        precision treat scores within a bucket as tied, and the result states the bound on that error (zero
        when each bucket holds one score value).

    Examples
    --------
    >>> from audit import AuditConfig
    >>> round(AuditConfig(n_bootstrap=2000, correction="fdr_bh").alpha, 10)
    0.05
    >>> AuditConfig(confidence=95)
    Traceback (most recent call last):
    ...
    audit.exceptions.ConfigError: confidence=95 is invalid: give a level between 0.5 and 1, such as 0.95.
    """

    threshold: float = 0.5
    seed: int = 0
    n_bootstrap: int = 1000
    confidence: float = 0.95
    min_group_size: int = 30
    min_positives: int = 5
    min_negatives: int = 5
    max_groups: int = 50
    intersections: bool = True
    intersection_order: int = 2
    max_intersection_groups: int = 200
    correction: str = "holm"
    four_fifths: float = 0.8
    calibration_bins: int = 10
    exact_score_rows: int = 4000
    score_bins: int = 32
    check_determinism_rows: int = 256
    score_buckets: int = 4096

    def __post_init__(self) -> None:
        check_all(self, CONSTRAINTS)

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AuditConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown audit option(s) {', '.join(unknown)}; known options: {', '.join(sorted(known))}.",
                              code="unknown_option")
        return cls(**data)


#: every option's constraint, in the order they are checked (one message format: see ``audit.params``)
CONSTRAINTS = {
    "threshold": Number(0.0, 1.0, text="a probability between 0 and 1"),
    "seed": Integer(0),
    "n_bootstrap": Satisfies(lambda v: isinstance(v, int) and not isinstance(v, bool) and (v == 0 or v >= 100),
                             "0 (no intervals) or at least 100 resamples (1000 is recommended)"),
    "confidence": Satisfies(lambda v: isinstance(v, float) and 0.5 < v < 1.0, "a level between 0.5 and 1, such as 0.95"),
    "min_group_size": Integer(0),
    "min_positives": Integer(0),
    "min_negatives": Integer(0),
    "max_groups": Integer(2),
    "intersections": Boolean(),
    "intersection_order": Integer(2),
    "max_intersection_groups": Integer(2),
    "correction": Options(CORRECTIONS, text="one of " + ", ".join(CORRECTIONS)),
    "four_fifths": Number(0.0, 1.0, low_open=True, text="a ratio in (0, 1], usually 0.8"),
    "calibration_bins": Integer(2, 100, text="an integer between 2 and 100"),
    "exact_score_rows": Integer(0, 1_000_000, text="an integer between 0 and 1,000,000"),
    "score_bins": Integer(16, 4096, text="an integer between 16 and 4096"),
    "check_determinism_rows": Integer(0),
    "score_buckets": Integer(64, 1 << 20, text="an integer between 64 and 1,048,576"),
}
