"""What the batch audit and the accumulator share: option checks, late labels, the model's description, the
reference groups and the settings a windowed audit is read and re-tested with."""

from __future__ import annotations

from typing import Any, Sequence

from ..exceptions import ConfigError, InputError

#: the disparities tested by default: the headline ones (each metric added to the family costs power)
ALERT_METRICS = ("demographic_parity_ratio", "equal_opportunity_difference")
REFERENCES = ("first", "previous")


def check_options(metrics: Sequence[str], persistence: Any, reference: Any) -> str:
    """The reference mode; bad alert metrics, persistence or reference refused naming the argument."""
    from ..metrics import DISPARITY_METRICS

    unknown = [m for m in metrics if m not in DISPARITY_METRICS]
    if unknown or not metrics or isinstance(metrics, str):
        raise ConfigError(f"metrics={list(metrics) if not isinstance(metrics, str) else metrics!r} is invalid: give "
                          f"a list of disparities among {', '.join(DISPARITY_METRICS)}.", code="invalid_option")
    if not (isinstance(persistence, int) and not isinstance(persistence, bool) and persistence >= 1):
        raise ConfigError(f"persistence={persistence!r} is invalid: give an integer of at least 1.",
                          code="invalid_option")
    if isinstance(reference, (tuple, list)) and len(reference) == 2:
        return "range"
    if isinstance(reference, str) and reference in REFERENCES:
        return reference
    raise ConfigError(f"reference={reference!r} is invalid: give 'first', 'previous' or (start, end).",
                      code="invalid_option")


def labels_present(data: Any, label: Any, positive_label: Any) -> tuple[Any, Any]:
    """(data with missing labels filled by an observed label, mask of labelled rows or None when every row has
    its label). Rows whose label has not arrived stay in the monitor: the fill is never counted as a label."""
    from .._validation import require_column

    require_column(data, label, "label")
    missing = data[label].isna().to_numpy()
    if not missing.any():
        return data, None
    observed = data[label][~missing]
    if len(observed) == 0 and positive_label is None:
        raise InputError(f"label column {label!r} holds no label yet (every value is missing): give positive_label "
                         "so that the decisions can be read before the labels arrive.", code="no_labels",
                         column=str(label))
    fill = observed.iloc[0] if len(observed) else positive_label
    filled = data.copy(deep=False)
    filled[label] = data[label].where(~missing, fill) if len(observed) else fill
    return filled, ~missing


def model_info(out: Any) -> dict[str, Any]:
    import datetime as _dt

    from .. import __version__
    from .._engine import library_versions
    from ..record.tables import ModelInfo

    return {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "library_version": __version__, "versions": library_versions(),
            "model": ModelInfo(out.description, out.method, out.score_kind, out.fingerprint, out.deterministic)}


def with_references(inputs: Any, out: Any, cfg: Any, weights: Any = None) -> Any:
    """Per attribute, the group with the highest rate of favourable predictions (among groups of at least
    min_group_size rows) as every window's reference group (``weights``: rows per input row, an engine's cells)."""
    import dataclasses

    import numpy as np

    fav = (out.predictions if inputs.favorable else 1 - out.predictions).astype(np.float64)
    w = np.ones(len(fav)) if weights is None else np.asarray(weights, dtype=np.float64)
    refs = {}
    for a in inputs.attributes:
        n = np.bincount(a.codes, weights=w, minlength=len(a.groups))
        rate = np.bincount(a.codes, weights=fav * w, minlength=len(a.groups)) / np.maximum(n, 1)
        rate = np.where(n >= cfg.min_group_size, rate, -1.0)
        refs[a.name] = a.groups[int(np.argmax(rate))]
    return dataclasses.replace(inputs, reference=refs)


def settings_of(*, time: str, windowing: Any, mode: str, reference: Any, metrics: Sequence[str], persistence: int,
                min_rows: int, cfg: Any, inputs: Any, info_model: dict[str, Any]) -> dict[str, Any]:
    """The settings a windowed audit is read and re-tested with (and a state file is checked against)."""
    from .._validation import py_value

    return {"time": time, "every": windowing.every, "origin": windowing.origin, "reference_mode": mode,
            "reference": mode if mode != "range" else [str(reference[0]), str(reference[1])],
            "alert_metrics": list(metrics), "persistence": persistence, "min_rows": min_rows,
            "confidence": cfg.confidence, "label": inputs.label, "positive_label": py_value(inputs.positive_label),
            "favorable": inputs.favorable, "protected": [a.name for a in inputs.attributes],
            "group_reference": {k: str(v) for k, v in inputs.reference.items()}, "config": cfg.to_dict(),
            "model": info_model["model"].description}
