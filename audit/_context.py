"""The audit context: validated data, predictions computed once, group partitions and the shared
sufficient statistics (confusion counts, score cells, their bootstrap replicates).

Modules read the context and never predict or validate again.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ._model import ModelOutput
from ._validation import Attribute, ValidatedInputs
from .config import AuditConfig
from .stats.bootstrap import multinomial_tables
from .stats.scores import build_cells, cell_metrics, exact_rank_metrics, reduce_cells, score_order, tie_ids

OVERALL = "(overall)"
OVERALL_GROUP = "all"
JOIN = " & "


@dataclass(frozen=True)
class Partition:
    """A way of splitting the rows into groups: the whole population, one attribute, or an intersection."""

    attribute: str
    members: tuple[str, ...]
    groups: tuple[str, ...]
    finest_map: np.ndarray  # finest group -> group index
    counts: np.ndarray  # (G, 4) confusion counts [TN, FP, FN, TP]
    boot_counts: np.ndarray | None  # (B, G, 4)
    score_point: dict[str, np.ndarray] = field(default_factory=dict)  # exact, (G,)
    score_boot: dict[str, np.ndarray] = field(default_factory=dict)  # (B, G)


@dataclass(frozen=True)
class AuditContext:
    inputs: ValidatedInputs
    config: AuditConfig
    model: ModelOutput
    partitions: tuple[Partition, ...]
    warnings: tuple[str, ...]

    @property
    def favorable(self) -> bool:
        return self.inputs.favorable


def _finest(attributes: tuple[Attribute, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the finest partition (observed combinations of all attributes) and, per finest
    group, the code of each attribute: ``(codes (n,), combos (F, k))``."""
    sizes = [max(len(a.groups), 1) for a in attributes]
    key = np.zeros(len(attributes[0].codes), dtype=np.int64)
    for a, size in zip(attributes, sizes):
        key = key * size + a.codes
    total = math.prod(sizes)
    if total <= 5_000_000:
        present = np.flatnonzero(np.bincount(key, minlength=total))
        lookup = np.full(total, -1, dtype=np.int32)
        lookup[present] = np.arange(len(present), dtype=np.int32)
        codes = lookup[key]
    else:
        present, codes = np.unique(key, return_inverse=True)
        codes = codes.astype(np.int32)
    combos = np.empty((len(present), len(attributes)), dtype=np.int64)
    rest = present.copy()
    for j in range(len(attributes) - 1, -1, -1):
        combos[:, j] = rest % sizes[j]
        rest //= sizes[j]
    return codes, combos


def _aggregate(finest_values: np.ndarray, finest_map: np.ndarray, n_groups: int, axis: int) -> np.ndarray:
    """Sum finest-group values into groups along ``axis`` (each finest group belongs to one group)."""
    if len(finest_map) == n_groups and np.array_equal(finest_map, np.arange(n_groups)):
        return finest_values  # read-only use by callers
    shape = list(finest_values.shape)
    shape[axis] = n_groups
    out = np.zeros(shape, dtype=finest_values.dtype)
    index = [slice(None)] * finest_values.ndim
    for g in range(n_groups):
        members = np.flatnonzero(finest_map == g)
        if len(members) == 0:
            continue
        index[axis] = g
        src = [slice(None)] * finest_values.ndim
        src[axis] = members
        out[tuple(index)] = finest_values[tuple(src)].sum(axis=axis)
    return out


def build_context(inputs: ValidatedInputs, model: ModelOutput, config: AuditConfig) -> AuditContext:
    warnings: list[str] = []
    attrs = inputs.attributes
    y = inputs.y
    yhat = model.predictions
    finest, combos = _finest(attrs)
    n_finest = len(combos)

    # the partitions: overall, each attribute, intersections
    specs: list[tuple[str, tuple[str, ...], tuple[str, ...], np.ndarray]] = [
        (OVERALL, (), (OVERALL_GROUP,), np.zeros(n_finest, dtype=np.int64))]
    for j, a in enumerate(attrs):
        specs.append((a.name, (a.name,), a.groups, combos[:, j]))
    if config.intersections and len(attrs) >= 2:
        for r in range(2, min(config.intersection_order, len(attrs)) + 1):
            for idx in itertools.combinations(range(len(attrs)), r):
                members = tuple(attrs[j].name for j in idx)
                name = JOIN.join(members)
                if all(attrs[j].categorical for j in idx):
                    keys = list(itertools.product(*(range(len(attrs[j].groups)) for j in idx)))
                else:
                    keys = sorted(set(map(tuple, combos[:, idx].tolist())))
                if len(keys) > config.max_intersection_groups:
                    warnings.append(f"intersection {name!r} has {len(keys):,} groups, more than "
                                    f"max_intersection_groups={config.max_intersection_groups}; it was not audited.")
                    continue
                position = {k: i for i, k in enumerate(keys)}
                fmap = np.array([position[tuple(row)] for row in combos[:, idx].tolist()], dtype=np.int64)
                groups = tuple(JOIN.join(attrs[j].groups[c] for j, c in zip(idx, k)) for k in keys)
                specs.append((name, members, groups, fmap))

    # confusion counts of the finest groups and their bootstrap replicates
    cell = finest.astype(np.int64) * 4 + y.astype(np.int64) * 2 + yhat
    finest_counts = np.bincount(cell, minlength=n_finest * 4).reshape(n_finest, 4)
    B = config.n_bootstrap
    boot_finest = None
    if B:
        boot_finest = multinomial_tables(finest_counts, B, np.random.default_rng([config.seed, 1]))
        boot_finest_f = boot_finest.astype(float)

    scores = model.scores
    cells = boot_cells = order = None
    probability = model.score_kind == "probability"
    if scores is not None:
        order = score_order(scores)
        # rows in score order: per-cell float sums then add the same values in the same order whatever
        # the input row order, so results are exactly row-order invariant
        finest_sorted, y_sorted, scores_sorted = finest[order], y[order], scores[order]
        ties = tie_ids(scores_sorted)
        cells = build_cells(finest_sorted, n_finest, y_sorted, scores_sorted, probability, config.score_bins,
                            config.calibration_bins)
        if B:
            draws = multinomial_tables(cells.count, B, np.random.default_rng([config.seed, 2])).astype(float)
            safe = np.where(cells.count > 0, cells.count, 1.0)
            # each resampled row carries its cell's mean score, Brier term and log-loss term
            boot_cells = reduce_cells(draws, draws * (cells.sum_score / safe), draws * (cells.sum_brier / safe),
                                      draws * (cells.sum_logloss / safe), cells.ece_bin, cells.n_ece_bins)
        point_cells = reduce_cells(cells.count, cells.sum_score, cells.sum_brier, cells.sum_logloss,
                                   cells.ece_bin, cells.n_ece_bins)

    partitions = []
    for name, members, groups, fmap in specs:
        G = len(groups)
        counts = _aggregate(finest_counts.astype(float), fmap, G, 0).round().astype(np.int64)
        boot = None
        if boot_finest is not None:
            boot = _aggregate(boot_finest_f, fmap, G, 1).round().astype(np.int64)
        score_point: dict[str, np.ndarray] = {}
        score_boot: dict[str, np.ndarray] = {}
        if cells is not None:
            agg = [_aggregate(a, fmap, G, 0) for a in point_cells]
            binned = cell_metrics(*agg, cells.ece_bin, cells.n_ece_bins, probability)
            auc, ap = exact_rank_metrics(fmap.astype(np.int32)[finest_sorted], G, y_sorted, ties)
            score_point = dict(binned)
            score_point["roc_auc"], score_point["average_precision"] = auc, ap
            if boot_cells is not None:
                reps = [_aggregate(a, fmap, G, 1) for a in boot_cells]
                score_boot = cell_metrics(*reps, cells.ece_bin, cells.n_ece_bins, probability)
                for key, exact in (("roc_auc", auc), ("average_precision", ap)):
                    # replicates are of the binned statistic: centre them on the exact point estimate
                    score_boot[key] = score_boot[key] + (exact - binned[key])
        partitions.append(Partition(name, members, groups, fmap, counts, boot, score_point, score_boot))
    return AuditContext(inputs, config, model, tuple(partitions), tuple(warnings))
