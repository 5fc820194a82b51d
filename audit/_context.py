"""The audit context: validated data, predictions computed once, group partitions and the shared
sufficient statistics (confusion counts, score cells, their bootstrap replicates).

Modules read the context and never predict or validate again.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np

from ._keys import join_key
from ._model import ModelOutput
from ._parallel import parallel_map
from ._validation import Attribute, ValidatedInputs
from .config import AuditConfig
from .stats.score_boot import group_replicates, identity_seed
from .stats.unit import ConfusionCounts, FinestStatistic, stack
from .stats.scores import (ChunkTerms, RankAccumulator, cell_metrics, chunk_terms, chunk_tie_runs, code_dtype,
                           row_chunks, small_codes, sort_scores, tie_aligned_chunks)

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
    #: the level of the control axis (a time window, a segment) this partition lies in; None without one
    level: str | None = None
    #: every further sufficient statistic (``build_context(statistics=...)``) by key: ``(point (G, *cells),
    #: replicates (B, G, *cells) or None)``; the confusion counts are ``counts`` and ``boot_counts``
    stats: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)


class Spec(NamedTuple):
    """A reported partition before its statistics: its name, member attributes, groups, the map from finest
    group to group (-1: the finest group lies in another level of the control axis) and that level."""

    name: str
    members: tuple[str, ...]
    groups: tuple[str, ...]
    fmap: np.ndarray
    level: str | None = None
    control: str | None = None

    def identity(self, group: str) -> tuple[str, ...]:
        """The names a group's random streams are keyed by (its control level too, when there is one)."""
        return (self.name, group) if self.level is None else (self.control, self.level, self.name, group)


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
    #: the further sufficient statistics the context was built with (``build_context(statistics=...)``)
    statistics: tuple[Any, ...] = ()

    def statistic(self, key: str) -> Any:
        return next((s for s in self.statistics if s.key == key), None)

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


def _partition_specs(attrs: tuple[Attribute, ...], combos: np.ndarray, config: AuditConfig, warnings: list[str]
                     ) -> list[Spec]:
    """The partitions: overall, each attribute, intersections (name, members, groups, finest -> group)."""
    n_finest = len(combos)
    specs: list[Spec] = [Spec(OVERALL, (), (OVERALL_GROUP,), np.zeros(n_finest, dtype=np.int64))]
    for j, a in enumerate(attrs):
        specs.append(Spec(a.name, (a.name,), a.groups, combos[:, j]))
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
                specs.append(Spec(name, members, groups, fmap))
    return specs


def _controlled(specs: list[Spec], control: Attribute, levels: np.ndarray) -> list[Spec]:
    """Every partition repeated within each level of the control axis (``levels``: each finest group's level):
    a finest group of another level maps to -1. Levels in the control's own order; all of them, so an empty
    window still has its rows (of zero)."""
    return [Spec(sp.name, sp.members, sp.groups, np.where(levels == k, sp.fmap, -1), level, control.name)
            for k, level in enumerate(control.groups) for sp in specs]


def build_context(inputs: ValidatedInputs, model: ModelOutput, config: AuditConfig, *,
                  weights: np.ndarray | None = None, score_statistics: Any = None,
                  control: Attribute | None = None, statistics: Sequence[FinestStatistic] = ()) -> AuditContext:
    """The context of validated rows, or (``weights`` and ``score_statistics`` given) of an engine's cells: each
    input row is then a cell holding ``weights[i]`` rows, and ``score_statistics(finest, specs, counts, offsets)``
    computes the score metrics from the cells' own sums.

    ``control``: a control axis (time window, segment; codes per row like a protected attribute). Every partition
    is then reported within each of its levels (``Partition.level``), from the same pass over the rows: a finest
    group is a combination of the control level and the protected groups. Without it nothing changes.

    ``statistics``: further sufficient statistics per finest group (``stats.unit.FinestStatistic``), summed into
    every reported group like the confusion counts and held in ``Partition.stats``."""
    warnings: list[str] = []
    attrs = inputs.attributes
    y = inputs.y
    finest, combos = _finest(((control,) if control is not None else ()) + attrs, len(y))
    n_finest = len(combos)
    levels = None
    if control is not None:
        levels, combos = combos[:, 0], combos[:, 1:]
    specs = _partition_specs(attrs, combos, config, warnings)
    if control is not None:
        specs = _controlled(specs, control, levels)
    for j, a in enumerate(attrs):
        present = np.unique(combos[:, j]) if len(combos) else np.empty(0)
        if len(present) < 2:
            only = ", ".join(repr(a.groups[c]) for c in present)
            warnings.append(f"protected attribute {a.name!r} has a single group ({only}) in this data: no disparity "
                            "can be computed for it, and a policy rule on it has nothing to judge.")

    # every reported group of every partition is a sum of finest groups: one (F, S) membership matrix
    sizes = [len(sp.groups) for sp in specs]
    offsets = np.r_[0, np.cumsum(sizes)]
    members = np.zeros((n_finest, int(offsets[-1])))
    for sp, off in zip(specs, offsets[:-1]):
        inside = np.flatnonzero(sp.fmap >= 0)
        members[inside, off + sp.fmap[inside]] = 1.0

    # confusion counts of the finest groups and their bootstrap replicates
    finest_names = tuple(tuple(part for a, c in zip(attrs, combo) for part in (a.name, a.groups[c]))
                         for combo in combos.tolist())
    if control is not None:  # the level is part of a finest group's identity (its random streams too)
        finest_names = tuple((control.name, control.groups[k], *names) for k, names in zip(levels.tolist(),
                                                                                           finest_names))
    B = config.n_bootstrap
    # each finest group draws from a stream keyed by its groups' names, not by its position
    seeds = [identity_seed(config.seed, 1, names) for names in finest_names] if B else []
    unit = ConfusionCounts()
    finest_counts = unit.table(finest, n_finest, y, model, weights)
    counts = stack(finest_counts, members, 0).round().astype(np.int64)
    boot = stack(unit.replicates(finest_counts, B, seeds, finest, y, model), members, 1) if B else None
    if len(statistics) > 8:
        raise ValueError("at most 8 further statistics (random-stream purposes 3 to 10 are theirs)")
    extra: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for k, st in enumerate(statistics):  # streams of purpose 3 (and up): never those of the counts
        table = st.table(finest, n_finest, y, model, weights)
        reps = st.replicates(table, B, [identity_seed(config.seed, 3 + k, names) for names in finest_names],
                             finest, y, model) if B else None
        extra[st.key] = (stack(table, members, 0), None if reps is None else stack(reps, members, 1))

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
    for sp, a, b in zip(specs, offsets[:-1], offsets[1:]):
        partitions.append(Partition(
            sp.name, sp.members, sp.groups, sp.fmap, counts[a:b], None if boot is None else boot[:, a:b],
            {k: v[a:b] for k, v in score_point.items()}, {k: v[:, a:b] for k, v in score_boot.items()},
            {k: v[a:b] for k, v in score_error.items()}, sp.level,
            {k: (v[a:b], None if r is None else r[:, a:b]) for k, (v, r) in extra.items()}))
    return AuditContext(inputs, config, model, tuple(partitions), tuple(warnings), finest, finest_names,
                        statistics=tuple(statistics))


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

    # with a control axis, each level's rows in score order are passed once per partition of that level (not
    # every row once per partition and level): one stable sort of the rows by level keeps their score order
    views: dict[Any, tuple[Any, ...]] = {None: (None, chunks, ties, terms, finest_sorted, y_sorted)}
    if any(sp.level is not None for sp in specs):
        names = list(dict.fromkeys(sp.level for sp in specs))
        level_of_finest = np.zeros(n_finest, dtype=np.int64)
        for k, name in enumerate(names):
            overall = next(sp for sp in specs if sp.level == name and not sp.members)
            level_of_finest[overall.fmap >= 0] = k
        by_level = level_of_finest[finest_sorted]
        order = np.argsort(by_level, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(by_level, minlength=len(names)))]
        views = {}
        for k, name in enumerate(names):
            idx = order[bounds[k]:bounds[k + 1]]
            sub = scores_sorted[idx]
            yy = y_sorted[idx]
            ch = tie_aligned_chunks(sub) if len(idx) else []
            views[name] = (idx, ch, [chunk_tie_runs(sub[c]) for c in ch],
                           [chunk_terms(sub[c], yy[c], n_cal, probability) for c in ch], finest_sorted[idx], yy)
        if probability:  # the terms in the rows' global score order, for the small groups' exact replicates
            cal, brier, logloss = np.zeros(len(y), dtype=np.int64), np.zeros(len(y)), np.zeros(len(y))
            for idx, _, _, lt, _, _ in views.values():
                if lt:
                    cal[idx] = np.concatenate([t.cal for t in lt])
                    brier[idx] = np.concatenate([t.brier for t in lt])
                    logloss[idx] = np.concatenate([t.logloss for t in lt])
            terms = [ChunkTerms(cal, scores_sorted, brier, logloss)]

    def rank_job(p: int) -> RankAccumulator:
        """Exact AUC and AP, per-group cells and the rows of small groups of partition ``p``: one pass over the
        rows of its level (positions mapped back to the global score order)."""
        a, b = offsets[p], offsets[p + 1]
        idx, lchunks, lties, lterms, lfinest, ly = views[specs[p].level]
        G = b - a
        want = exact_group[a:b]
        acc = RankAccumulator(n_all[a:b], pos_all[a:b], config.score_bins, n_cal, probability,
                              want if want.any() else None)
        fmap = small_codes(specs[p].fmap.clip(0), G)
        for s, t, tm in zip(lchunks, lties, lterms):
            f = lfinest[s]
            acc.add(fmap[f] if G > 1 else np.zeros(len(f), dtype=np.uint8), ly[s], t, s.start, tm)
        if idx is not None:
            acc.rows = [(idx[pos], code) for pos, code in acc.rows]
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

