"""Each window of a monitor summarised as an audit of its rows: the window's own :class:`audit.AuditResult`
(performance, disparities decided within the window) and the bootstrap spread of the alert metrics, from one
context whose control axis is the window (one pass over the rows for every window).

Rows whose label has not arrived count for the label-free metrics (selection rate, mean score, demographic
parity): those come from a context of every row (group sufficiency by rows alone), the others from a context of
the labelled rows, and the two are decided as one audit. With every label present it is one context, as in
``run_audit``."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

NO_LABELS_YET = "no labelled rows yet in this group (labels arrive late)"


@dataclass(frozen=True)
class Window:
    """One window: its span, rows (and labelled rows), status, its audit and the spread of its alert metrics.

    A window read from a file keeps the audit as stored and decodes (and checks) it when first asked for: a daily
    job that adds a day and saves does not decode a year of closed windows."""

    start: str
    end: str
    n: int
    n_labelled: int
    status: str  # ok | insufficient data | empty
    payload: Any  # AuditResult of the window's rows, or its stored dict (decoded on first use)
    spread: tuple[tuple[str, str, str, float, float], ...]  # (attribute, group, metric, se, se of log)
    source: str = ""

    @property
    def result(self) -> Any:
        if isinstance(self.payload, dict):
            from ..results import AuditResult

            object.__setattr__(self, "payload", AuditResult.from_dict(
                self.payload, source=f"{self.source}, window {self.start}"))
        return self.payload

    def to_dict(self) -> dict[str, Any]:
        import math

        return {"start": self.start, "end": self.end, "n": self.n, "n_labelled": self.n_labelled,
                "status": self.status, "spread": [[a, g, m, se if math.isfinite(se) else None,
                                                   sl if math.isfinite(sl) else None]
                                                  for a, g, m, se, sl in self.spread],
                "result": self.payload if isinstance(self.payload, dict) else self.payload.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str) -> "Window":
        from ..exceptions import InputError

        try:
            spread = tuple((str(a), str(g), str(m), float("nan") if se is None else float(se),
                            float("nan") if sl is None else float(sl)) for a, g, m, se, sl in d["spread"])
            if not isinstance(d["result"], dict):
                raise TypeError("its result is not an object")
            return cls(str(d["start"]), str(d["end"]), int(d["n"]), int(d["n_labelled"]), str(d["status"]),
                       d["result"], spread, source)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: a window is malformed ({type(exc).__name__}: {exc}).",
                             code="malformed_result") from None


def summarise(inputs: Any, out: Any, cfg: Any, index: Any, starts: Sequence[str], ends: Sequence[str], *,
              labelled: Any = None, min_rows: int, alert_metrics: Sequence[str], model_info: Any,
              names: Sequence[str] | None = None, time_values: Any = None, weights: Any = None,
              score_stats: Any = None) -> list[Window]:
    """The windows ``starts`` (row ``i`` in window ``index[i]``), each an audit of its rows; with ``weights``, each
    input row is an engine's cell of that many rows and ``score_stats(rows)`` the score statistics of the cells
    ``rows`` (None: all)."""
    import numpy as np

    from .._context import build_context
    from .._engine import blas_single_threaded
    from .._validation import Attribute
    from ..metrics import LABEL_FREE
    from ..modules import bias, performance

    names = tuple(starts) if names is None else tuple(names)
    counts = np.bincount(index, weights=weights, minlength=len(names)).astype(np.int64)
    partial = labelled is not None and not bool(np.all(labelled))

    def context(ins: Any, o: Any, c: Any, ctl: Any, rows: Any = None) -> Any:
        if weights is None:
            return build_context(ins, o, c, control=ctl)
        w = weights if rows is None else weights[rows]
        return build_context(ins, o, c, control=ctl, weights=np.asarray(w, dtype=np.int64),
                             score_statistics=None if score_stats is None else score_stats(rows))

    with blas_single_threaded():
        control = Attribute("(window)", names, index.astype(np.int64), True)
        if not partial:
            ctx = context(inputs, out, cfg, control)
            perf = performance.run(ctx)
            disp = bias.run(ctx, decide_now=False)["disparities"]
            spread = replicate_spread(ctx, alert_metrics)
            n_lab = counts
        else:
            free = set(LABEL_FREE) | {"predicted_positives"}
            ctx_all = context(inputs, out, dataclasses.replace(cfg, min_positives=0, min_negatives=0), control)
            rows = np.flatnonzero(labelled)
            perf_all = performance.run(ctx_all)
            disp_all = bias.run(ctx_all, decide_now=False)["disparities"]
            if len(rows):
                lab_inputs, lab_out = subset(inputs, out, rows)
                ctx_lab = context(lab_inputs, lab_out, cfg,
                                  Attribute("(window)", names, index[rows].astype(np.int64), True), rows)
                perf_lab = performance.run(ctx_lab)
                disp_lab = bias.run(ctx_lab, decide_now=False)["disparities"]
            else:  # no label has arrived in these windows: every label-dependent number is undefined
                ctx_lab = None
                perf_lab = {"metrics": [_unlabelled(r) for r in perf_all["metrics"]],
                            "groups": [{**g, "positives": 0, "negatives": 0} for g in perf_all["groups"]]}
                disp_lab = [_unlabelled(r) for r in disp_all]
            perf = {"metrics": _merge(perf_all["metrics"], perf_lab["metrics"], free, ("group", "metric")),
                    "groups": _merge_groups(perf_all["groups"], perf_lab["groups"])}
            disp = _merge(disp_all, disp_lab, free, ("group", "reference", "metric", "comparison"))
            spread = replicate_spread(ctx_all, [m for m in alert_metrics if m in free])
            if ctx_lab is not None:
                spread.update(replicate_spread(ctx_lab, [m for m in alert_metrics if m not in free]))
            n_lab = np.bincount(index[rows], weights=None if weights is None else weights[rows],
                                minlength=len(names)).astype(np.int64)
            ctx = ctx_all
    bias.decide(disp, cfg.correction, cfg.alpha, by_level=True)
    by_level: dict[Any, dict[str, list[dict[str, Any]]]] = {name: {"metrics": [], "groups": [], "disp": []}
                                                             for name in names}
    for key, records in (("metrics", perf["metrics"]), ("groups", perf["groups"]), ("disp", disp)):
        for r in records:
            by_level[r["level"]][key].append(r)
    prints = _fingerprints(inputs, out, index, len(names), labelled, time_values, weights)
    windows = []
    for k, name in enumerate(names):
        n = int(counts[k])
        status = "empty" if n == 0 else ("insufficient data" if n < min_rows else "ok")
        result = _result(inputs, ctx, cfg, model_info, by_level[name], n, prints[k], int(n_lab[k]))
        sp = tuple((a, g, m, se, sl) for (lv, a, g, m), (se, sl) in spread.items() if lv == name)
        windows.append(Window(str(starts[k]), str(ends[k]), n, int(n_lab[k]), status, result, sp))
    return windows


def _merge(all_rows: list[dict[str, Any]], lab_rows: list[dict[str, Any]], free: set[str],
           key: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of every row's context for the label-free metrics, the labelled rows' context for the others, in
    the order of an audit (both contexts list the same rows in the same order)."""
    lab = {(r["level"], r["attribute"], *(r[k] for k in key)): r for r in lab_rows}
    out = []
    for r in all_rows:
        if r["metric"] in free:
            out.append(r)
            continue
        found = lab.get((r["level"], r["attribute"], *(r[k] for k in key)))
        if found is None:  # a group (an intersection) present only among the unlabelled rows
            out.append(_unlabelled(r))
            continue
        other = dict(found)
        if other.get("n") == 0 and r.get("n", 0) > 0:
            other["reason"] = NO_LABELS_YET
        out.append(other)
    return out


def _unlabelled(r: dict[str, Any]) -> dict[str, Any]:
    """A label-dependent row of windows without any labelled row: undefined, saying why."""
    out = {**r, "value": None, "ci_low": None, "ci_high": None, "reason": NO_LABELS_YET}
    if "n" in r:
        out.update(n=0, status="undefined")
    else:
        out.update(verdict="undefined", p_value=None, p_value_raw=None, flag=None, _test=False)
    return out


def _merge_groups(all_groups: list[dict[str, Any]], lab_groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group rows of every row (sizes, favourable rates, sufficiency by rows), with the labelled rows' counts of
    actual positives and negatives."""
    lab = {(g["level"], g["attribute"], g["group"]): g for g in lab_groups}
    out = []
    for g in all_groups:
        other = lab.get((g["level"], g["attribute"], g["group"]), {"positives": 0, "negatives": 0})
        out.append({**g, "positives": other["positives"], "negatives": other["negatives"]})
    return out


def _fingerprints(inputs: Any, out: Any, index: Any, n_windows: int, labelled: Any, time_values: Any,
                  weights: Any = None) -> list[str]:
    """Each window's fingerprint: its rows' time, protected groups, label (or its absence), decision and score,
    independent of row order (the same in a batch audit and a state fed batch by batch); an engine's window: its
    cells and their row counts."""
    import numpy as np
    import pandas as pd

    from .._validation import fingerprint

    cols = {f"(group) {a.name}": np.asarray(a.groups, dtype=object)[a.codes] for a in inputs.attributes}
    cols["(decision)"] = out.predictions
    if out.scores is not None:
        cols["(score)"] = out.scores
    if time_values is not None:
        cols["(time)"] = np.asarray(time_values).astype("datetime64[ns]").astype(np.int64)
    if weights is not None:
        cols["(rows)"] = np.asarray(weights, dtype=np.int64)
    frame = pd.DataFrame(cols)
    y = inputs.y.astype(np.int64) + (0 if labelled is None else 2 * (~np.asarray(labelled)).astype(np.int64))
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(n_windows + 1))
    prints = []
    for k in range(n_windows):
        rows = order[bounds[k]:bounds[k + 1]]
        prints.append(fingerprint(frame.iloc[rows], list(frame.columns), y[rows]))
    return prints


def _result(inputs: Any, ctx: Any, cfg: Any, model_info: Any, records: dict[str, list[dict[str, Any]]], n: int,
            print_: str, n_labelled: int) -> Any:
    from ..record.tables import DISPARITY_COLUMNS, GROUP_COLUMNS, METRIC_COLUMNS, Table
    from ..results import AuditResult

    warn = []
    if n and n_labelled < n:
        warn.append(f"{n - n_labelled:,} of the window's {n:,} rows have no label yet: the label-free metrics "
                    "(selection rate, mean score, demographic parity) use every row, the others the labelled rows.")
    insufficient = sum(1 for g in records["groups"] if g["status"] != "ok" and g["n"] > 0)
    if insufficient:
        warn.append(f"{insufficient} group(s) have insufficient data (fewer than {cfg.min_group_size} rows, "
                    f"{cfg.min_positives} positives or {cfg.min_negatives} negatives); their numbers are flagged.")
    refs = tuple((g["attribute"], g["group"]) for g in records["groups"] if g["is_reference"] and
                 g["attribute"] in {a.name for a in inputs.attributes})
    return AuditResult(
        created=model_info["created"], library_version=model_info["library_version"], label=inputs.label,
        positive_label=inputs.positive_label, negative_label=inputs.negative_label, favorable=inputs.favorable,
        protected=tuple(a.name for a in inputs.attributes), features=inputs.features, n_rows=n,
        data_fingerprint=print_, model=model_info["model"], config=cfg,
        metrics_table=Table.from_records(METRIC_COLUMNS, records["metrics"]),
        disparities_table=Table.from_records(DISPARITY_COLUMNS, records["disp"]),
        groups_table=Table.from_records(GROUP_COLUMNS, records["groups"]),
        references=refs, warnings=tuple(warn), versions=model_info["versions"])


def subset(inputs: Any, out: Any, rows: Any) -> tuple[Any, Any]:
    """The validated rows ``rows`` and the model's output on them, cut from the audit's own (no second validation
    or prediction); every group of every attribute is kept (absent ones with no rows)."""
    attributes = tuple(dataclasses.replace(a, codes=a.codes[rows]) for a in inputs.attributes)
    sub = dataclasses.replace(
        inputs, data=inputs.data.iloc[rows], n=len(rows), y=inputs.y[rows], attributes=attributes,
        predictions=None if inputs.predictions is None else inputs.predictions[rows],
        scores=None if inputs.scores is None else inputs.scores[rows])
    return sub, dataclasses.replace(out, predictions=out.predictions[rows],
                                    scores=None if out.scores is None else out.scores[rows])


def replicate_spread(ctx: Any, metrics: Sequence[str]) -> dict[tuple[Any, ...], tuple[float, float]]:
    """The bootstrap standard error of every group's disparity (and of its log, for ratios) in every window, from
    the same replicates the intervals come from: ``{(window, attribute, group, metric): (se, se_of_log)}``."""
    import numpy as np

    from ..modules._groups import group_facts
    from ..modules.bias import DISPARITIES, components, disparity

    wanted = [d for d in DISPARITIES if d.name in metrics]
    out: dict[tuple[Any, ...], tuple[float, float]] = {}
    for part in ctx.partitions:
        if not part.members or len(part.groups) < 2 or part.boot_counts is None:
            continue
        facts = group_facts(ctx, part)
        boot = components(ctx, part, part.boot_counts, part.score_boot)
        for d in wanted:
            if d.component not in boot:
                continue
            reps = disparity(d, boot, facts.reference, ctx.favorable)
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a group without resamples: no spread (NaN)
                se = np.nanstd(reps, axis=0, ddof=1)
                se_log = np.nanstd(np.log(np.where(reps > 0, reps, np.nan)), axis=0, ddof=1)
            for g, group in enumerate(part.groups):
                out[(part.level, part.attribute, group, d.name)] = (float(se[g]), float(se_log[g]))
    return out
