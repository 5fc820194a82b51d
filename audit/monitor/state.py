"""Incremental monitoring: a :class:`WindowAccumulator` takes batches of decisions (a daily job, a stream
consumer's micro-batches) and keeps every closed window's audit plus the rows of the one window still open; a
state file (Parquet or JSON, versioned, written atomically) carries it from one run to the next, so a day is added
without rescanning the history. The windows it builds equal :func:`audit.audit_windows` over the same rows with
the same ``group_reference`` (tested)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..exceptions import AuditError, ConfigError, InputError

STATE_FORMAT = "fairness-audit/monitor-state"
STATE_VERSION = 1
_META_KEY = b"fairness-audit-monitor"
_CHECKED = ("time", "every", "reference_mode", "alert_metrics", "persistence", "min_rows", "label",
            "positive_label", "favorable", "protected", "group_reference", "config")


class WindowAccumulator:
    """Windows of a running model fed batch by batch.

    Parameters
    ----------
    model, time, every, label, protected, reference, metrics, persistence, min_rows, group_reference,
    positive_label, favorable, features, threshold, seed, n_bootstrap, confidence, **options
        As for :func:`audit.audit_windows`; ``reference`` is ``"first"`` or ``"previous"``. Without
        ``group_reference`` and ``positive_label``, the first batch fixes them for the life of the state.
    predictions, scores : str, optional
        Columns of each batch holding precomputed decisions or scores (instead of a model).

    Examples
    --------
    >>> import audit, pandas as pd
    >>> acc = audit.WindowAccumulator(time="t", every="1D", label="y", positive_label=1, protected="g",
    ...                               predictions="p", n_bootstrap=0, min_rows=1)
    >>> day = lambda d, n: pd.DataFrame({"t": pd.Timestamp(d) + pd.to_timedelta(range(n), unit="min"),
    ...                                  "g": ["a", "b"] * (n // 2), "y": [1, 0, 0, 1] * (n // 4),
    ...                                  "p": [1, 1, 0, 0] * (n // 4)})
    >>> for d in ("2026-03-02", "2026-03-03", "2026-03-04"):
    ...     _ = acc.add(day(d, 40))
    >>> list(acc.result().window_table.n)
    [40, 40, 40]
    """

    def __init__(self, model: Any = None, *, time: str, every: Any, label: str, protected: Sequence[str] | str,
                 reference: str = "first", metrics: Sequence[str] | None = None, persistence: int = 1,
                 min_rows: int | None = None, group_reference: dict[str, Any] | None = None,
                 positive_label: Any = None, favorable: bool = True, features: Sequence[str] | None = None,
                 predictions: str | None = None, scores: str | None = None, threshold: float = 0.5,
                 seed: int = 0, n_bootstrap: int = 1000, confidence: float = 0.95, **options: Any) -> None:
        from ..config import AuditConfig
        from .common import ALERT_METRICS, check_options
        from .windowing import Windowing

        metrics = tuple(ALERT_METRICS if metrics is None else metrics)
        mode = check_options(metrics, persistence, reference)
        if mode == "range":
            raise ConfigError(f"reference={reference!r} is invalid for a WindowAccumulator: give 'first' or "
                              "'previous' (a pooled range needs every row of the range at once: audit_windows).",
                              code="invalid_option")
        for name, v in (("predictions", predictions), ("scores", scores)):
            if v is not None and not isinstance(v, str):
                raise ConfigError(f"{name}={type(v).__name__} is invalid for a WindowAccumulator: give the name of "
                                  "the column each batch holds it in.", code="invalid_option")
        Windowing.start(every, "2000-01-01")  # every checked before any batch
        self.model = model
        self.cfg = AuditConfig.from_dict({**options, "threshold": threshold, "seed": seed,
                                          "n_bootstrap": n_bootstrap, "confidence": confidence})
        self.time, self.every, self.label = time, every, label
        self.protected = [protected] if isinstance(protected, str) else list(protected)
        self.mode, self.metrics, self.persistence = mode, metrics, persistence
        self.min_rows = self.cfg.min_group_size if min_rows is None else min_rows
        self.group_reference = None if group_reference is None else dict(group_reference)
        self.positive_label, self.favorable = positive_label, favorable
        self.features = None if features is None else list(features)
        self.predictions, self.scores = predictions, scores
        self.windowing: Any = None
        self.closed: list[Any] = []
        self.open_window: Any = None
        self.open_rows: Any = None  # the open window's rows: time, label, groups, decision, score
        self.groups: dict[str, list[str]] = {}  # every group seen so far, per attribute, in first-seen order
        self.model_info: dict[str, Any] | None = None
        self.settings: dict[str, Any] | None = None
        self.batches: list[list[Any]] = []  # per batch added: [fingerprint of its rows, rows, first time, last time]

    # feeding ----------------------------------------------------------------------------------------------
    def add(self, batch: Any) -> "WindowAccumulator":
        """Add a batch of decisions (a DataFrame, in any row order, dated no earlier than the open window);
        the windows it closes are audited and kept, the rows of the window still open are kept for the next.
        A batch that is refused changes nothing (the accumulator is as it was before the call)."""
        import numpy as np
        import pandas as pd

        from .. import _engine
        from .._validation import validate_inputs
        from .common import labels_present, model_info, settings_of, with_references
        from .windowing import Windowing, read_times

        if not isinstance(batch, pd.DataFrame):
            raise InputError(f"a batch must be a pandas DataFrame; got {type(batch).__name__}.",
                             code="not_a_dataframe")
        if len(batch) == 0:
            return self
        ts = read_times(batch, self.time)
        windowing = self.windowing or Windowing.start(self.every, ts.min())
        floor = self._open_start()
        if floor is not None and (ts < floor).any():
            early = int((ts < floor).sum())
            raise InputError(f"the batch holds {early:,} row(s) dated before {floor} (the earliest {ts.min()}), in "
                             f"windows already closed: add rows in time order (a closed window's late rows need a "
                             "new audit_windows over its rows).", code="closed_window", column=str(self.time))
        filled, labelled = labels_present(batch, self.label, self.positive_label)
        model = self.model
        features = self.features if self.features is not None else ([] if model is None else None)
        _engine.check_model_arguments(model, self.predictions, self.scores)
        inputs = validate_inputs(filled, label=self.label, positive_label=self.positive_label,
                                 favorable=self.favorable, protected=self.protected, reference=self.group_reference,
                                 features=features,
                                 model_features=_engine.model_features_of(model) if features is None else None,
                                 predictions=self.predictions, scores=self.scores, config=self.cfg)
        out, _ = _engine.predict_rows(model, inputs, self.cfg)
        fixed = {"positive_label": self.positive_label, "group_reference": self.group_reference,
                 "model_info": self.model_info, "settings": self.settings}
        if self.settings is None:  # the first batch fixes the positive label, the reference groups, the model
            if self.group_reference is None:
                inputs = with_references(inputs, out, self.cfg)
            info = model_info(out)
            fixed = {"positive_label": inputs.positive_label, "group_reference": dict(inputs.reference),
                     "model_info": info,
                     "settings": settings_of(time=self.time, windowing=windowing, mode=self.mode,
                                             reference=self.mode, metrics=self.metrics, persistence=self.persistence,
                                             min_rows=self.min_rows, cfg=self.cfg, inputs=inputs, info_model=info)}
        elif self.model is not None and out.fingerprint is not None \
                and self.model_info["model"].fingerprint not in (None, out.fingerprint):
            raise InputError("the batch was predicted by another model than the state's (its fingerprint differs): "
                             "start a new state for a new model.", code="state_mismatch")
        groups = {k: list(v) for k, v in self.groups.items()}
        for a in inputs.attributes:
            known = groups.setdefault(a.name, [])
            known.extend(g for g in a.groups if g not in known)
        rows = {self.time: ts.to_numpy(), self.label: np.asarray(batch[self.label].to_numpy(), dtype=object)}
        for a in inputs.attributes:
            rows[a.name] = np.asarray(a.groups, dtype=object)[a.codes]
        rows["(decision)"] = out.predictions.astype(np.int8)
        if out.scores is not None:
            rows["(score)"] = out.scores.astype(np.float64)
        new = pd.DataFrame(rows)
        digest = _batch_fingerprint(new, self.time, self.label)
        for k, (seen, n_seen, first, last) in enumerate(self.batches):
            if seen == digest:  # a daily job run twice would count the day twice
                raise InputError(f"this batch was already added: the same {n_seen:,} rows (from {first} to {last}) "
                                 f"were batch {k + 1} of this state; nothing was added.", code="duplicate_batch")
        combined = new if self.open_rows is None else pd.concat([self.open_rows, new], ignore_index=True)
        closed, open_window, open_rows = self._summarise(combined, windowing, groups, fixed)
        # every step succeeded: the accumulator takes the batch
        self.windowing, self.groups = windowing, groups
        self.positive_label, self.group_reference = fixed["positive_label"], fixed["group_reference"]
        self.model_info, self.settings = fixed["model_info"], fixed["settings"]
        self.closed.extend(closed)
        self.open_window, self.open_rows = open_window, open_rows
        self.batches.append([digest, len(new), str(ts.min()), str(ts.max())])
        return self

    def _open_start(self) -> Any:
        import pandas as pd

        if self.open_window is not None:
            return pd.Timestamp(self.open_window.start)
        return None

    def _summarise(self, rows: Any, windowing: Any, groups: dict[str, list[str]], fixed: dict[str, Any]
                   ) -> tuple[list[Any], Any, Any]:
        """Audit the windows of ``rows`` (the open window's and the batch's): (the windows it closes, the window
        still open, its rows)."""
        import numpy as np
        import pandas as pd

        from .._validation import validate_inputs
        from .._model import ModelOutput
        from .common import labels_present
        from .summary import summarise

        ts = rows[self.time]
        first = None if self.open_window is None else self.open_window.start
        index, starts, ends = windowing.spans(ts, first=first)
        data = rows.copy(deep=False)
        for name, known in groups.items():
            data[name] = pd.Categorical(rows[name], categories=known)
        data, labelled = labels_present(data, self.label, fixed["positive_label"])
        inputs = validate_inputs(data, label=self.label, positive_label=fixed["positive_label"],
                                 favorable=self.favorable, protected=self.protected,
                                 reference=fixed["group_reference"], features=[], model_features=None,
                                 predictions=None, scores=None, config=self.cfg)
        m = fixed["model_info"]["model"]
        out = ModelOutput(rows["(decision)"].to_numpy(np.int8),
                          rows["(score)"].to_numpy(np.float64) if "(score)" in rows else None,
                          m.score_kind, m.method, m.description, m.fingerprint, m.deterministic)
        spans = summarise(inputs, out, self.cfg, index, starts, ends, labelled=labelled, min_rows=self.min_rows,
                          alert_metrics=self.metrics, model_info=fixed["model_info"], time_values=ts.to_numpy())
        return spans[:-1], spans[-1], rows[index == len(spans) - 1].reset_index(drop=True)

    def add_all(self, batches: Iterable[Any]) -> "WindowAccumulator":
        """Add every batch of an iterable (a generator of micro-batches)."""
        for batch in batches:
            self.add(batch)
        return self

    # results ----------------------------------------------------------------------------------------------
    def result(self) -> Any:
        """The windowed audit of every row added so far (the open window as it stands)."""
        from .result import WindowedAudit

        if self.open_window is None:
            raise InputError("no rows were added yet: add a batch first.", code="no_rows")
        return WindowedAudit(tuple(self.settings.items()), tuple(self.closed) + (self.open_window,), None)

    # the state file ---------------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        m = self.model_info
        return {"format": STATE_FORMAT, "format_version": STATE_VERSION, "settings": self.settings,
                "groups": self.groups, "created": m["created"], "library_version": m["library_version"],
                "versions": [list(p) for p in m["versions"]],
                "model": {k: getattr(m["model"], k) for k in ("description", "method", "score_kind", "fingerprint",
                                                                "deterministic")},
                "windows": [w.to_dict() for w in self.closed], "open_window": self.open_window.to_dict(),
                "batches": self.batches}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state (``.parquet``: the open window's rows as columns, the rest in the file's metadata; any
        other suffix: JSON), atomically: a failure leaves the previous state as it was."""
        from ..record.atomic import write_atomic
        from ..record.codec import dumps

        if self.open_window is None:
            raise InputError("no rows were added yet: nothing to save.", code="no_rows")
        meta = self._meta()
        if str(path).endswith(".parquet"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(self._stored_rows(text=False), preserve_index=False)
            table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                   _META_KEY: dumps(meta, indent=None).encode("utf-8")})
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            write_atomic(path, sink.getvalue().to_pybytes())
        else:
            rows = self._stored_rows()
            meta["open_rows"] = {c: rows[c].tolist() for c in rows.columns}
            write_atomic(path, dumps(meta, indent=None))

    def _stored_rows(self, text: bool = True) -> Any:
        """The open window's rows as stored: Parquet keeps the times and labels as columns (a label's missing
        values as nulls); JSON holds ISO times and plain label values."""
        rows = self.open_rows.copy()
        label = rows[self.label]
        missing = label.isna()
        if text:
            rows[self.time] = rows[self.time].astype("datetime64[ns]").dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
            rows[self.label] = [None if m else _plain(v) for v, m in zip(label.tolist(), missing.tolist())]
        else:
            rows[self.time] = rows[self.time].astype("datetime64[ns]")
            rows[self.label] = label.astype(object).where(~missing, None)
        return rows

    @classmethod
    def load(cls, path: str | os.PathLike[str], model: Any = None, **arguments: Any) -> "WindowAccumulator":
        """A state file written by :meth:`save`; ``arguments`` (as for the constructor) must agree with the state's
        (another label, positive label, protected attributes, windowing, reference or configuration is refused)."""
        import pandas as pd


        source = str(path)
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read state file {source!r}: {exc.strerror}.", code="unreadable_state") from None
        rows = None
        if raw[:4] == b"PAR1":
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(pa.BufferReader(raw))
            except Exception as exc:
                raise InputError(f"{source}: not a readable Parquet state ({exc}).", code="malformed_state") from None
            text = (table.schema.metadata or {}).get(_META_KEY)
            if text is None:
                raise InputError(f"{source}: a Parquet file, but not a fairness-audit monitor state (no monitor "
                                 "metadata).", code="not_a_state")
            meta = json.loads(text)
            rows = table.to_pandas()
        else:
            try:
                meta = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(f"{source}: not a fairness-audit monitor state ({type(exc).__name__}).",
                                 code="not_a_state") from None
            if isinstance(meta, dict) and isinstance(meta.get("open_rows"), dict):
                rows = pd.DataFrame(meta.pop("open_rows"))
        if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
            raise InputError(f"{source}: not a fairness-audit monitor state (its 'format' field is missing or "
                             "different).", code="not_a_state")
        version = meta.get("format_version")
        if version != STATE_VERSION:
            newer = isinstance(version, int) and not isinstance(version, bool) and version > STATE_VERSION
            raise InputError(f"{source}: monitor state format_version {version!r} is not one this library reads "
                             f"({STATE_VERSION})" + ("; upgrade fairness-audit to read it." if newer else "."),
                             code="state_version")
        try:
            return cls._restore(meta, rows, model, arguments, source)
        except AuditError:  # a state from another monitor, a bad argument: said as such
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{source}: the monitor state is malformed ({type(exc).__name__}: {exc}); write it "
                             "again from its decisions.", code="malformed_state") from None

    @classmethod
    def _restore(cls, meta: dict[str, Any], rows: Any, model: Any, arguments: dict[str, Any],
                 source: str) -> "WindowAccumulator":
        import pandas as pd

        from ..record.tables import ModelInfo
        from .summary import Window
        from .windowing import Windowing

        if rows is None:
            raise KeyError("open_rows")
        s = meta["settings"]
        cfg_args = {k: v for k, v in s["config"].items()}
        acc = cls(model, time=s["time"], every=s["every"], label=s["label"], protected=s["protected"],
                  reference=s["reference_mode"], metrics=s["alert_metrics"], persistence=s["persistence"],
                  min_rows=s["min_rows"], group_reference=s["group_reference"], positive_label=s["positive_label"],
                  favorable=s["favorable"], **cfg_args)
        check_arguments(acc, arguments, source)
        for k in ("predictions", "scores", "features"):
            if arguments.get(k) is not None:
                setattr(acc, k, arguments[k] if k != "features" else list(arguments[k]))
        acc.windowing = Windowing(s["every"], s["origin"])
        acc.settings = s
        acc.groups = {k: list(v) for k, v in meta["groups"].items()}
        acc.model_info = {"created": meta["created"], "library_version": meta["library_version"],
                          "versions": tuple(tuple(v) for v in meta["versions"]), "model": ModelInfo(**meta["model"])}
        acc.closed = [Window.from_dict(w, source) for w in meta["windows"]]
        acc.batches = [list(b) for b in meta.get("batches", [])]
        acc.open_window = Window.from_dict(meta["open_window"], source)
        rows[s["time"]] = pd.to_datetime(rows[s["time"]]).astype("datetime64[ns]")
        acc.open_rows = rows
        return acc


def _batch_fingerprint(rows: Any, time: str, label: str) -> str:
    """An order-independent digest of a batch's rows as the state keeps them (time, label, groups, decision,
    score): the same batch added twice has the same digest."""
    import numpy as np

    from .._validation import fingerprint

    label_codes = np.zeros(len(rows), dtype=np.int64)  # the label's value is hashed as a column
    frame = rows.assign(**{label: rows[label].map(lambda v: None if v is None or v != v else repr(v))})
    frame[time] = frame[time].astype("datetime64[ns]").astype("int64")
    return fingerprint(frame, list(frame.columns), label_codes)


def _plain(v: Any) -> Any:
    from .._validation import py_value

    return py_value(v)


def check_arguments(state: WindowAccumulator, given: dict[str, Any], source: str) -> None:
    """Refuse arguments that disagree with the state's own (another monitor's state); those not given are read
    from the state. The columns holding the model's output (predictions, scores, features) may change."""
    from ..config import AuditConfig

    known = {"time", "every", "label", "protected", "reference", "metrics", "persistence", "min_rows",
             "group_reference", "positive_label", "favorable", "features", "predictions", "scores"}
    options = {k: v for k, v in given.items() if k not in known}
    have_cfg = state.cfg.to_dict()
    try:
        want_cfg = AuditConfig.from_dict({**have_cfg, **options}).to_dict() if options else have_cfg
    except TypeError as exc:
        raise ConfigError(f"{exc}", code="invalid_option") from None
    pairs: dict[str, tuple[Any, Any]] = {}
    for name, have in (("time", state.time), ("every", state.every), ("label", state.label),
                       ("reference", state.mode), ("persistence", state.persistence), ("min_rows", state.min_rows),
                       ("favorable", state.favorable)):
        if given.get(name) is not None:
            pairs[name] = (have, given[name])
    if given.get("protected") is not None:
        p = given["protected"]
        pairs["protected"] = (state.protected, [p] if isinstance(p, str) else list(p))
    if given.get("metrics") is not None:
        pairs["metrics"] = (list(state.metrics), list(given["metrics"]))
    if given.get("positive_label") is not None and not (state.positive_label == given["positive_label"]):
        pairs["positive_label"] = (str(state.positive_label), str(given["positive_label"]))
    if given.get("group_reference") is not None:
        pairs["group_reference"] = ({k: str(v) for k, v in state.group_reference.items()},
                                    {k: str(v) for k, v in given["group_reference"].items()})
    pairs["config"] = (have_cfg, want_cfg)
    for name, (have, want) in pairs.items():
        if have != want:
            if name == "config":
                diff = sorted(k for k in have if have.get(k) != want.get(k))
                have, want = {k: have[k] for k in diff}, {k: want.get(k) for k in diff}
            raise InputError(f"{source}: the state was built with {name}={have!r}, not {want!r}: it belongs to "
                             "another monitor; give its own settings or start a new state file.",
                             code="state_mismatch")
