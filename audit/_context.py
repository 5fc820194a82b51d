"""The audit context: validated data, predictions computed once, group partitions and the shared
sufficient statistics (confusion counts, score cells, their bootstrap replicates).

Modules read the context and never predict or validate again.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._keys import join_key
from ._model import ModelOutput
from ._parallel import parallel_map
from ._validation import Attribute, ValidatedInputs
from .config import AuditConfig
from .stats.bootstrap import multinomial_tables
from .stats.score_boot import group_replicates, identity_seed
from .stats.scores import (RankAccumulator, cell_metrics, chunk_terms, chunk_tie_runs, code_dtype, row_chunks,
                           small_codes, sort_scores, tie_aligned_chunks)

OVERALL = "(overall)"
OVERALL_GROUP = "all"


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
    #: bound on the error of a score metric's point value, (G,): an engine's score buckets (empty in memory)
    score_error: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditContext:
    inputs: ValidatedInputs
    config: AuditConfig
    model: ModelOutput
    partitions: tuple[Partition, ...]
    warnings: tuple[str, ...]
    finest: np.ndarray  # per row: its finest group (every partition's group is ``part.finest_map[finest]``)
    finest_names: tuple[tuple[str, ...], ...]  # per finest group: (attribute, group, attribute, group, ...)
    #: rows of the full data each row stands for, when the rows are a stratified sample of data an engine holds
    row_weights: np.ndarray | None = None

    @property
    def favorable(self) -> bool:
        return self.inputs.favorable


def _finest(attributes: tuple[Attribute, ...], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the finest partition (observed combinations of all attributes) and, per finest
    group, the code of each attribute: ``(codes (n,), combos (F, k))``. Streams over row chunks."""
    sizes = [max(len(a.groups), 1) for a in attributes]
    total = math.prod(sizes)
    chunks = row_chunks(n)

    def keys(s: slice) -> np.ndarray:
        key = np.zeros(s.stop - s.start, dtype=np.int64)
        for a, size in zip(attributes, sizes):
            key *= size
            key += a.codes[s]
        return key

    if total <= 1 << 16:
        seen = np.zeros(total, dtype=np.int64)
        for s in chunks:
            seen += np.bincount(keys(s), minlength=total)
        present = np.flatnonzero(seen)
        lookup = np.full(total, -1, dtype=np.int64)
        lookup[present] = np.arange(len(present))
        codes = np.empty(n, dtype=code_dtype(len(present)))
        for s in chunks:
            codes[s] = lookup[keys(s)]
    else:
        present, codes = np.unique(keys(slice(0, n)), return_inverse=True)
        codes = small_codes(codes.ravel(), len(present))
    combos = np.empty((len(present), len(attributes)), dtype=np.int64)
    rest = present.copy()
    for j in range(len(attributes) - 1, -1, -1):
        combos[:, j] = rest % sizes[j]
        rest //= sizes[j]
    return codes, combos


def _stack(finest_values: np.ndarray, members: np.ndarray, axis: int) -> np.ndarray:
    """Sum finest-group values (along ``axis``) into every reported group at once: ``members`` is the
    (F, S) 0/1 matrix of which finest groups make up each of the S groups of all partitions."""
    moved = np.moveaxis(np.asarray(finest_values, dtype=float), axis, -1)
    return np.moveaxis(moved @ members, -1, axis)


def _partition_specs(attrs: tuple[Attribute, ...], combos: np.ndarray, config: AuditConfig, warnings: list[str]
                     ) -> list[tuple[str, tuple[str, ...], tuple[str, ...], np.ndarray]]:
    """The partitions: overall, each attribute, intersections (name, members, groups, finest -> group)."""
    n_finest = len(combos)
    specs: list[tuple[str, tuple[str, ...], tuple[str, ...], np.ndarray]] = [
        (OVERALL, (), (OVERALL_GROUP,), np.zeros(n_finest, dtype=np.int64))]
    for j, a in enumerate(attrs):
        specs.append((a.name, (a.name,), a.groups, combos[:, j]))
    if config.intersections and len(attrs) >= 2:
        for r in range(2, min(config.intersection_order, len(attrs)) + 1):
            for idx in itertools.combinations(range(len(attrs)), r):
                members = tuple(attrs[j].name for j in idx)
                name = join_key(members, avoid=[a.name for a in attrs])
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
                groups = tuple(join_key([attrs[j].groups[c] for j, c in zip(idx, k)]) for k in keys)
                specs.append((name, members, groups, fmap))
    return specs


def _finest_counts(finest: np.ndarray, n_finest: int, y: np.ndarray, yhat: np.ndarray,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Confusion counts ``(F, 4)`` of the finest groups, streamed over row chunks (``weights``: rows per input
    row, when the inputs are an engine's cells)."""
    if weights is not None:
        cell = finest.astype(np.int64) * 4 + y.astype(np.int64) * 2 + yhat
        exact = np.zeros(n_finest * 4, dtype=np.int64)
        np.add.at(exact, cell, np.asarray(weights, dtype=np.int64))  # integer sums: exact at any size
        return exact.reshape(n_finest, 4)
    out = np.zeros(n_finest * 4, dtype=np.int64)
    for s in row_chunks(len(y)):
        cell = finest[s].astype(np.int32) * 4
        cell += y[s] * 2
        cell += yhat[s]
        out += np.bincount(cell, minlength=n_finest * 4)
    return out.reshape(n_finest, 4)


def build_context(inputs: ValidatedInputs, model: ModelOutput, config: AuditConfig, *,
                  weights: np.ndarray | None = None, score_statistics: Any = None) -> AuditContext:
    """The context of validated rows, or (``weights`` and ``score_statistics`` given) of an engine's cells: each
    input row is then a cell holding ``weights[i]`` rows, and ``score_statistics(finest, specs, counts, offsets)``
    computes the score metrics from the cells' own sums."""
    warnings: list[str] = []
    attrs = inputs.attributes
    y = inputs.y
    finest, combos = _finest(attrs, len(y))
    n_finest = len(combos)
    specs = _partition_specs(attrs, combos, config, warnings)
    for j, a in enumerate(attrs):
        present = np.unique(combos[:, j]) if len(combos) else np.empty(0)
        if len(present) < 2:
            only = ", ".join(repr(a.groups[c]) for c in present)
            warnings.append(f"protected attribute {a.name!r} has a single group ({only}) in this data: no disparity "
                            "can be computed for it, and a policy rule on it has nothing to judge.")

    # every reported group of every partition is a sum of finest groups: one (F, S) membership matrix
    sizes = [len(groups) for _, _, groups, _ in specs]
    offsets = np.r_[0, np.cumsum(sizes)]
    members = np.zeros((n_finest, int(offsets[-1])))
    for (_, _, _, fmap), off in zip(specs, offsets[:-1]):
        members[np.arange(n_finest), off + fmap] = 1.0

    # confusion counts of the finest groups and their bootstrap replicates
    finest_names = tuple(tuple(part for a, c in zip(attrs, combo) for part in (a.name, a.groups[c]))
                         for combo in combos.tolist())
    finest_counts = _finest_counts(finest, n_finest, y, model.predictions, weights)
    counts = _stack(finest_counts, members, 0).round().astype(np.int64)
    B = config.n_bootstrap
    boot = None
    if B:
        # each finest group draws from a stream keyed by its groups' names, not by its position
        seeds = [identity_seed(config.seed, 1, names) for names in finest_names]
        boot = _stack(multinomial_tables(finest_counts, B, seeds), members, 1)

    score_point: dict[str, np.ndarray] = {}
    score_boot: dict[str, np.ndarray] = {}
    score_error: dict[str, np.ndarray] = {}
    if model.scores is not None and score_statistics is not None:
        score_point, score_boot = score_statistics(finest, specs, counts, offsets)
        score_error = dict(getattr(score_statistics, "errors", {}))
    elif model.scores is not None:
        score_point, score_boot = _score_statistics(finest, n_finest, y, model.scores, model.score_kind == "probability",
                                                    specs, counts, offsets, config)

    partitions = []
    for (name, member_names, groups, fmap), a, b in zip(specs, offsets[:-1], offsets[1:]):
        partitions.append(Partition(
            name, member_names, groups, fmap, counts[a:b], None if boot is None else boot[:, a:b],
            {k: v[a:b] for k, v in score_point.items()}, {k: v[:, a:b] for k, v in score_boot.items()},
            {k: v[a:b] for k, v in score_error.items()}))
    return AuditContext(inputs, config, model, tuple(partitions), tuple(warnings), finest, finest_names)


def _score_statistics(finest: np.ndarray, n_finest: int, y: np.ndarray, scores: np.ndarray, probability: bool,
                      specs: list, counts: np.ndarray, offsets: np.ndarray, config: AuditConfig
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Score metrics of every group ``(S,)`` and their bootstrap replicates ``(B, S)``."""
    order, scores_sorted = sort_scores(scores)
    # rows in score order, streamed in chunks that never split a tie: per-cell float sums add the same
    # values in the same order whatever the input row order, so results are exactly row-order invariant
    packed = finest.astype(np.int32 if n_finest > 127 else np.uint8)
    packed <<= 1
    packed |= y.view(np.uint8).astype(packed.dtype, copy=False)
    packed = packed[order]
    del order
    finest_sorted = small_codes(packed >> 1, n_finest)
    y_sorted = (packed & 1).astype(np.int8)
    del packed
    chunks = tie_aligned_chunks(scores_sorted)
    ties = [chunk_tie_runs(scores_sorted[s]) for s in chunks]
    n_cal = config.calibration_bins if probability else 1
    terms = parallel_map(lambda s: chunk_terms(scores_sorted[s], y_sorted[s], n_cal, probability), chunks)
    n_all = counts.sum(-1)
    pos_all = counts[:, 2] + counts[:, 3]
    B = config.n_bootstrap
    exact_group = (n_all > 0) & (n_all <= config.exact_score_rows) & (B > 0)

    def rank_job(p: int) -> RankAccumulator:
        """Exact AUC and AP, per-group cells and the rows of small groups of partition ``p``: one pass."""
        a, b = offsets[p], offsets[p + 1]
        acc = RankAccumulator(n_all[a:b], pos_all[a:b], config.score_bins, n_cal, probability,
                              exact_group[a:b] if exact_group[a:b].any() else None)
        fmap = small_codes(specs[p][3], b - a)
        for s, t, tm in zip(chunks, ties, terms):
            f = finest_sorted[s]
            acc.add(fmap[f] if b - a > 1 else np.zeros(len(f), dtype=np.uint8), y_sorted[s], t, s.start, tm)
        return acc

    # each partition's pass is an independent numpy-heavy job: two threads, largest first
    by_size = np.argsort(-np.diff(offsets), kind="stable")
    accs = dict(zip(by_size.tolist(), parallel_map(rank_job, by_size.tolist())))
    exact = [accs[p].result() for p in range(len(specs))]
    cells = [accs[p].group_cells() for p in range(len(specs))]
    point = cell_point_metrics(cells, probability)
    point["roc_auc"] = np.concatenate([e[0] for e in exact])
    point["average_precision"] = np.concatenate([e[1] for e in exact])
    boot: dict[str, np.ndarray] = {}
    if B:
        boot = _score_replicates(specs, offsets, accs, cells, point, exact_group, scores_sorted, y_sorted,
                                 terms, chunks, n_cal, probability, config)
    return point, boot


def cell_point_metrics(cells: list[dict[str, np.ndarray]], probability: bool) -> dict[str, np.ndarray]:
    """Brier, log loss, ECE, mean score and calibration in the large of every group, exact, from its cells."""
    if not probability:
        return {}
    count = np.concatenate([c["count"] for c in cells])  # (S, 2, K, E)
    S, _, K, E = count.shape
    score = np.concatenate([c["score"] for c in cells]).sum((1, 2))  # (S, E)
    brier = np.concatenate([c["brier"] for c in cells]).reshape(S, -1).sum(1)
    ll = np.concatenate([c["logloss"] for c in cells]).reshape(S, -1).sum(1)
    out = cell_metrics(count[:, 0].reshape(S, -1), count[:, 1].reshape(S, -1), score, brier, ll,
                       np.tile(np.arange(E), K), E, True)
    del out["roc_auc"], out["average_precision"]  # exact values come from the rank pass
    return out


def _score_replicates(specs: list, offsets: np.ndarray, accs: dict, cells: list[dict[str, np.ndarray]],
                      point: dict[str, np.ndarray], exact_group: np.ndarray, scores_sorted: np.ndarray,
                      y_sorted: np.ndarray, terms: list, chunks: list[slice], n_cal: int, probability: bool,
                      config: AuditConfig) -> dict[str, np.ndarray]:
    """Replicates ``(B, S)`` of every score metric, each group resampled on its own (see ``stats.score_boot``)."""
    B = config.n_bootstrap
    names = ("roc_auc", "average_precision") + (
        ("brier", "log_loss", "mean_score", "calibration_in_the_large", "ece") if probability else ())
    small_rows: dict[int, np.ndarray] = {}  # global group index -> its rows' score-order positions
    for p, acc in accs.items():
        if acc.rows:
            pos = np.concatenate([r[0] for r in acc.rows])
            code = np.concatenate([r[1] for r in acc.rows])
            grouped = np.argsort(code, kind="stable")
            bounds = np.r_[0, np.cumsum(np.bincount(code, minlength=acc.n_groups))]
            for g in np.flatnonzero(np.diff(bounds)):
                small_rows[int(offsets[p] + g)] = pos[grouped[bounds[g]:bounds[g + 1]]]
    need_terms = bool(small_rows) and probability
    if need_terms:
        cal = np.concatenate([t.cal for t in terms])
        brier = np.concatenate([t.brier for t in terms])
        logloss = np.concatenate([t.logloss for t in terms])
    else:
        cal = brier = logloss = None

    def exact_rows(j: int, p: int, g: int) -> tuple | None:
        if not exact_group[j]:
            return None
        rows = small_rows[j]
        return (scores_sorted[rows], y_sorted[rows], cal[rows] if cal is not None else np.zeros(len(rows), np.int64),
                None if brier is None else brier[rows], None if logloss is None else logloss[rows], n_cal)

    present = (np.concatenate([c["count"].reshape(len(c["count"]), -1).sum(1) for c in cells]) > 0 if cells
               else np.zeros(0, dtype=bool))  # the group has rows
    return group_replicates(specs, offsets, names, B, config.seed, lambda j: bool(present[j]), exact_rows, cells,
                            point, probability,
                            work=lambda j: len(small_rows[j]) if exact_group[j] else 4 * config.score_bins * n_cal)

