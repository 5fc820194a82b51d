"""The audit context: validated data, predictions computed once, group partitions and the shared
sufficient statistics (confusion counts, score cells, their bootstrap replicates).

Modules read the context and never predict or validate again.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ._model import ModelOutput
from ._parallel import parallel_map
from ._validation import Attribute, ValidatedInputs
from .config import AuditConfig
from .stats.bootstrap import multinomial_tables
from .stats.scores import (RankAccumulator, ScoreCells, build_cells, chunk_tie_runs, code_dtype, group_cell_metrics,
                           replicate_cell_metrics, row_chunks, small_codes, sort_scores, tie_aligned_chunks)

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
    return specs


def _finest_counts(finest: np.ndarray, n_finest: int, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Confusion counts ``(F, 4)`` of the finest groups, streamed over row chunks."""
    out = np.zeros(n_finest * 4, dtype=np.int64)
    for s in row_chunks(len(y)):
        cell = finest[s].astype(np.int32) * 4
        cell += y[s] * 2
        cell += yhat[s]
        out += np.bincount(cell, minlength=n_finest * 4)
    return out.reshape(n_finest, 4)


def build_context(inputs: ValidatedInputs, model: ModelOutput, config: AuditConfig) -> AuditContext:
    warnings: list[str] = []
    attrs = inputs.attributes
    y = inputs.y
    finest, combos = _finest(attrs, len(y))
    n_finest = len(combos)
    specs = _partition_specs(attrs, combos, config, warnings)

    # every reported group of every partition is a sum of finest groups: one (F, S) membership matrix
    sizes = [len(groups) for _, _, groups, _ in specs]
    offsets = np.r_[0, np.cumsum(sizes)]
    members = np.zeros((n_finest, int(offsets[-1])))
    for (_, _, _, fmap), off in zip(specs, offsets[:-1]):
        members[np.arange(n_finest), off + fmap] = 1.0

    # confusion counts of the finest groups and their bootstrap replicates
    finest_counts = _finest_counts(finest, n_finest, y, model.predictions)
    counts = _stack(finest_counts, members, 0).round().astype(np.int64)
    B = config.n_bootstrap
    boot = None
    if B:
        boot = _stack(multinomial_tables(finest_counts, B, (config.seed, 1)), members, 1)

    score_point: dict[str, np.ndarray] = {}
    score_boot: dict[str, np.ndarray] = {}
    if model.scores is not None:
        score_point, score_boot = _score_statistics(finest, n_finest, y, model.scores, model.score_kind == "probability",
                                                    specs, counts, offsets, members, config)

    partitions = []
    for (name, member_names, groups, fmap), a, b in zip(specs, offsets[:-1], offsets[1:]):
        partitions.append(Partition(
            name, member_names, groups, fmap, counts[a:b], None if boot is None else boot[:, a:b],
            {k: v[a:b] for k, v in score_point.items()}, {k: v[:, a:b] for k, v in score_boot.items()}))
    return AuditContext(inputs, config, model, tuple(partitions), tuple(warnings))


def _score_statistics(finest: np.ndarray, n_finest: int, y: np.ndarray, scores: np.ndarray, probability: bool,
                      specs: list, counts: np.ndarray, offsets: np.ndarray, members: np.ndarray, config: AuditConfig
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
    n_all = counts.sum(-1)
    pos_all = counts[:, 2] + counts[:, 3]

    def cells_job() -> ScoreCells:
        return build_cells(finest_sorted, n_finest, y_sorted, scores_sorted, probability, config.score_bins,
                           config.calibration_bins, chunks)

    def rank_job(p: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact AUC and average precision of the groups of partition ``p``: one streamed pass."""
        a, b = offsets[p], offsets[p + 1]
        acc = RankAccumulator(n_all[a:b], pos_all[a:b])
        fmap = small_codes(specs[p][3], b - a)
        for s, t in zip(chunks, ties):
            f = finest_sorted[s]
            acc.add(fmap[f] if b - a > 1 else np.zeros(len(f), dtype=np.uint8), y_sorted[s], t)
        return acc.result()

    # the cells and each partition's rank pass are independent numpy-heavy jobs: two threads, largest first
    jobs = [cells_job] + [functools.partial(rank_job, p) for p in np.argsort(-np.diff(offsets), kind="stable")]
    done = parallel_map(lambda job: job(), jobs)
    cells = done[0]
    exact = dict(zip((job.args[0] for job in jobs[1:]), done[1:]))
    auc = np.concatenate([exact[p][0] for p in range(len(specs))])
    ap = np.concatenate([exact[p][1] for p in range(len(specs))])

    binned = group_cell_metrics(cells, members)
    point = dict(binned)
    point["roc_auc"], point["average_precision"] = auc, ap
    boot: dict[str, np.ndarray] = {}
    if config.n_bootstrap:
        draws = multinomial_tables(cells.count, config.n_bootstrap, (config.seed, 2))
        boot = replicate_cell_metrics(cells, draws, members)
        for key, value in (("roc_auc", auc), ("average_precision", ap)):
            # replicates are of the binned statistic: centre them on the exact point estimate
            boot[key] = boot[key] + (value - binned[key])
    return point, boot
