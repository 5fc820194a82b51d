"""The metric catalogue: every metric the audit reports, with its family, frame, range, better direction and the
reason it is undefined. The statistics, the modules, the gate and the renderers read their lists from here, in the
catalogue's order (report order), so they cannot drift apart; a test checks every reported value against its
range and the glossary against the names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: families: confusion counts of the decisions, the model's scores, comparisons of groups, explanation outputs
FAMILIES = ("count", "score", "regression", "disparity", "explanation")


@dataclass(frozen=True)
class Metric:
    name: str
    family: str
    frame: str  # "positive label", "favourable outcome", "data" or "model features"
    low: float  # the range every value and interval end lies in
    high: float
    better: str | None = None  # "higher", "lower", or None (no direction: a rate, a signed disparity)
    undefined: str = ""  # why a group's value is undefined (disparities give theirs per comparison)
    probability_only: bool = False  # needs scores that are probabilities
    labelled: bool = True  # needs each row's label (False: the decisions or scores alone, as for unlabelled rows)

    def contains(self, value: float) -> bool:
        """True when ``value`` lies in the metric's range (a value outside it is a bug)."""
        return math.isfinite(value) and self.low <= value <= self.high if math.isfinite(self.high) \
            else math.isfinite(value) and value >= self.low


_NO_ROWS = "the group has no rows"
_BOTH = "the group needs both actual positives and actual negatives"
_INF = math.inf

CATALOGUE: tuple[Metric, ...] = (
    # performance from the confusion counts, positive-label frame (scikit-learn's), in report order
    Metric("base_rate", "count", "data", 0, 1, None, _NO_ROWS),
    Metric("selection_rate", "count", "positive label", 0, 1, None, _NO_ROWS, labelled=False),
    Metric("accuracy", "count", "positive label", 0, 1, "higher", _NO_ROWS),
    Metric("balanced_accuracy", "count", "positive label", 0, 1, "higher", _BOTH),
    Metric("precision", "count", "positive label", 0, 1, "higher", "the group has no predicted positives"),
    Metric("recall", "count", "positive label", 0, 1, "higher", "the group has no actual positives"),
    Metric("specificity", "count", "positive label", 0, 1, "higher", "the group has no actual negatives"),
    Metric("fpr", "count", "positive label", 0, 1, "lower", "the group has no actual negatives"),
    Metric("fnr", "count", "positive label", 0, 1, "lower", "the group has no actual positives"),
    Metric("npv", "count", "positive label", 0, 1, "higher", "the group has no predicted negatives"),
    Metric("f1", "count", "positive label", 0, 1, "higher", "the group has no actual or predicted positives"),
    # performance from the scores
    Metric("roc_auc", "score", "positive label", 0, 1, "higher", _BOTH),
    Metric("average_precision", "score", "positive label", 0, 1, "higher", "the group has no actual positives"),
    Metric("brier", "score", "positive label", 0, 1, "lower", _NO_ROWS, True),
    Metric("log_loss", "score", "positive label", 0, _INF, "lower", _NO_ROWS, True),
    Metric("ece", "score", "positive label", 0, 1, "lower", _NO_ROWS, True),
    Metric("mean_score", "score", "positive label", 0, 1, None, _NO_ROWS, True, labelled=False),
    Metric("calibration_in_the_large", "score", "positive label", -1, 1, None, _NO_ROWS, True),
    # performance of a regression model, from its sums (the prediction's unit; residual = prediction - label)
    Metric("mae", "regression", "prediction", 0, _INF, "lower", _NO_ROWS),
    Metric("rmse", "regression", "prediction", 0, _INF, "lower", _NO_ROWS),
    Metric("mean_prediction", "regression", "prediction", -_INF, _INF, None, _NO_ROWS, labelled=False),
    Metric("mean_label", "regression", "data", -_INF, _INF, None, _NO_ROWS),
    Metric("mean_residual", "regression", "prediction", -_INF, _INF, None, _NO_ROWS),
    Metric("r2", "regression", "prediction", -_INF, 1, "higher", "the group's label is constant"),
    Metric("scoring_rate", "regression", "prediction", 0, 1, None, _NO_ROWS, labelled=False),
    # group against reference (negative, or a ratio below 1: the group fares worse), in the report's priority
    Metric("demographic_parity_ratio", "disparity", "favourable outcome", 0, _INF, labelled=False),
    Metric("demographic_parity_difference", "disparity", "favourable outcome", -1, 1, labelled=False),
    Metric("equal_opportunity_difference", "disparity", "favourable outcome", -1, 1),
    Metric("equalized_odds_difference", "disparity", "favourable outcome", -1, 1),
    Metric("average_odds_difference", "disparity", "favourable outcome", -1, 1),
    Metric("predictive_parity_difference", "disparity", "favourable outcome", -1, 1),
    Metric("fpr_difference", "disparity", "positive label", -1, 1),
    Metric("fnr_difference", "disparity", "positive label", -1, 1),
    Metric("accuracy_difference", "disparity", "favourable outcome", -1, 1),
    Metric("roc_auc_difference", "disparity", "favourable outcome", -1, 1),
    Metric("calibration_gap", "disparity", "favourable outcome", -1, 1),
    Metric("base_rate_difference", "disparity", "data", -1, 1),
    Metric("base_rate_ratio", "disparity", "data", 0, _INF),
    # a multiclass model's: each group's class of the largest selection-rate difference (per-class rows reuse the
    # names above, with their class)
    Metric("worst_class_parity_difference", "disparity", "favourable outcome", -1, 1, labelled=False),
    # a regression model's, signed by the favourable direction (higher or lower predictions help the person)
    Metric("mean_prediction_difference", "disparity", "prediction", -_INF, _INF, labelled=False),
    Metric("mean_prediction_ratio", "disparity", "prediction", -_INF, _INF, labelled=False),
    Metric("scoring_rate_ratio", "disparity", "prediction", 0, _INF, labelled=False),
    Metric("mae_difference", "disparity", "prediction", -_INF, _INF),
    Metric("rmse_difference", "disparity", "prediction", -_INF, _INF),
    Metric("mean_residual_difference", "disparity", "prediction", -_INF, _INF),
    Metric("ks_distance", "disparity", "prediction", 0, 1, labelled=False),
    Metric("wasserstein_distance", "disparity", "prediction", 0, _INF, labelled=False),
    # read from the explanations section
    Metric("proxy_auc", "explanation", "model features", 0, 1),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in CATALOGUE}


def names(family: str | None = None, *, better: str | None = None, probability_only: bool | None = None
          ) -> tuple[str, ...]:
    """Metric names in catalogue order, filtered by family, better direction and whether they need probabilities."""
    return tuple(m.name for m in CATALOGUE if (family is None or m.family == family)
                 and (better is None or m.better == better)
                 and (probability_only is None or m.probability_only == probability_only))


def undefined_reasons(family: str) -> dict[str, str]:
    return {m.name: m.undefined for m in CATALOGUE if m.family == family}


COUNT_METRICS = names("count")
SCORE_METRICS = names("score")
PROBABILITY_ONLY_ORDERED = names("score", probability_only=True)
PROBABILITY_ONLY = frozenset(PROBABILITY_ONLY_ORDERED)
DISPARITY_METRICS = names("disparity")
EXPLANATION_METRICS = names("explanation")
REGRESSION_METRICS = names("regression")
HIGHER_IS_BETTER = names("count", better="higher") + names("score", better="higher") \
    + names("regression", better="higher")
LOWER_IS_BETTER = names("count", better="lower") + names("score", better="lower") + names("regression", better="lower")
PERFORMANCE_METRICS = COUNT_METRICS + SCORE_METRICS + REGRESSION_METRICS
#: the metrics that need no label: what a monitor reports on rows whose label has not arrived yet
LABEL_FREE = tuple(m.name for m in CATALOGUE if not m.labelled)
