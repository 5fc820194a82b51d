"""Principal reasons for adverse decisions (US ECOA / Regulation B adverse-action notices; issue 21).

For every row the model gives the unfavourable outcome, the ``k`` features that pushed it there most: the most
negative SHAP contributions to the model's output for the *favourable* outcome (the log-odds margin of a gradient
boosted model, lightgbm or xgboost, or a logistic regression: exact TreeSHAP or the exact linear explanation; a
random forest's averaged probability; any other model: shap's permutation explainer, which says so). Contributions of
columns that a pipeline expanded (one-hot dummies) are summed back into the column the person gave, so a reason reads
"debt_to_income = 0.62", not "num__debt_to_income" or "purpose_car".

Protected attributes never appear as reasons, nor do the features the proxy scan flags (the audit's own scan when the
reasons come from a result with explanations; otherwise the same association measure on the rows explained): both
are stated in :attr:`ReasonCodes.excluded` with the reason. A mapping file turns feature names into reason text.
Not legal advice: the reasons are what the model used, in order of weight; whether they suffice for a notice is for
the user's counsel.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ._toml import read_toml
from .exceptions import ConfigError, InputError, ModelError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: the table's columns: the row's position and identifier, the model's score, the reason's rank (0: a row with no
#: permitted reason), the feature, its readable value, "feature = value" (or the mapped name), the reason text and
#: the contribution to the favourable output (negative: it pushed toward the unfavourable outcome)
COLUMNS = ("row", "id", "score", "rank", "feature", "value", "detail", "reason", "contribution")
#: the largest k
MAX_K = 50
#: rows whose association with a protected attribute is measured for a proxy scan of the data (a seeded sample)
PROXY_ROWS = 5000
UNTRACED = "(untraced transformed columns)"
NO_REASON = ("no permitted feature pushed this decision toward the unfavourable outcome: the model's base rate or "
             "the excluded features did")


@dataclass(frozen=True)
class ReasonMap:
    """Reason text per feature (``reasons.toml``)::

        debt_to_income = "Debt-to-income ratio too high"

        [months_employed]
        text = "Length of employment too short"
        name = "months at current employer"   # how "detail" names the feature (default: its column name)

    Every key must be one of the model's features (a typo is refused, naming it)."""

    texts: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "the reason map") -> "ReasonMap":
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a table of feature = reason text, found {type(d).__name__}.",
                              code="bad_reason_map")
        texts: dict[str, str] = {}
        names: dict[str, str] = {}
        for key, value in d.items():
            if isinstance(value, str):
                value = {"text": value}
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: feature {key!r} maps to {value!r}; give its reason text "
                                  f"({key} = \"...\") or a table with text and name.", code="bad_reason_map")
            unknown = sorted(set(value) - {"text", "name"})
            if unknown:
                raise ConfigError(f"{source}: feature {key!r} has unknown key(s) {', '.join(map(repr, unknown))}; "
                                  "known: text, name.", code="bad_reason_map")
            for part, into in (("text", texts), ("name", names)):
                if part in value:
                    if not isinstance(value[part], str) or not value[part].strip():
                        raise ConfigError(f"{source}: feature {key!r}: {part} must be non-empty text, found "
                                          f"{value[part]!r}.", code="bad_reason_map")
                    into[str(key)] = value[part].strip()
        return cls(texts, names)

    @classmethod
    def from_toml(cls, path_or_text: str | os.PathLike[str]) -> "ReasonMap":
        data, source, _ = read_toml(path_or_text, "reason map", "bad_reason_map")
        return cls.from_dict(data, source)

    def check(self, features: Sequence[str]) -> None:
        known = set(features)
        for key in [*self.texts, *self.names]:
            if key not in known:
                shown = ", ".join(list(features)[:12]) + (", ..." if len(features) > 12 else "")
                raise ConfigError(f"the reason map names feature {key!r}, which the model does not use; its "
                                  f"features are: {shown}.", code="unknown_feature", )


@dataclass(frozen=True)
class ReasonCodes:
    """Principal reasons for every adverse decision: plain data (rows of :data:`COLUMNS`) and what a reader must
    know (the outcome explained, the explainer and its output space, the excluded features and why).

    ``to_frame()`` gives the table; ``to_csv(path)`` writes it atomically (text cells that a spreadsheet would run
    as a formula are quoted with a leading apostrophe); ``statement()`` says how the reasons were found."""

    rows: tuple[tuple[Any, ...], ...]
    k: int
    n_rows: int
    n_adverse: int
    outcome: str  # the unfavourable outcome, e.g. "income = <=50K"
    explainer: str
    space: str
    excluded: tuple[tuple[str, str], ...]  # (feature, why)
    notes: tuple[str, ...] = ()

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(COLUMNS))

    def for_row(self, row: int) -> list[str]:
        """The reason texts of one row (a position in the data), in order; [] when its decision was favourable."""
        return [r[7] for r in self.rows if r[0] == row and r[3] > 0]

    def statement(self) -> str:
        lines = [f"{self.n_adverse:,} of {self.n_rows:,} rows received the unfavourable outcome ({self.outcome}); "
                 f"each lists up to {self.k} principal reasons: the features with the most negative contributions "
                 f"to the model's favourable output ({self.explainer}; output: {self.space})."]
        if self.excluded:
            lines.append("Never given as reasons: " + "; ".join(f"{f} ({why})" for f, why in self.excluded) + ".")
        else:
            lines.append("No feature was excluded: the model uses no protected attribute and the proxy scan flagged "
                         "none.")
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "n_rows": self.n_rows, "n_adverse": self.n_adverse, "outcome": self.outcome,
                "explainer": self.explainer, "space": self.space,
                "excluded": [{"feature": f, "reason": why} for f, why in self.excluded], "notes": list(self.notes),
                "columns": list(COLUMNS), "rows": [list(r) for r in self.rows]}

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in self.rows:
            writer.writerow([_cell(v) for v in r])
        text = buf.getvalue()
        if path is not None:
            from .record.atomic import write_atomic

            write_atomic(path, text)
        return text


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _cell(v: Any) -> str:
    """A CSV cell: numbers as Python writes them (every digit kept), text that a spreadsheet would evaluate
    (=, +, -, @, tab, carriage return first) behind an apostrophe unless it is a plain number."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    if s and s[0] in "=+-@\t\r" and not _NUMBER.match(s):
        return "'" + s
    return s


def readable(v: Any) -> str:
    """A person's value as a notice prints it: whole numbers without a decimal point, others to 4 significant
    digits, missing values as "missing"."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "missing"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isinf(f):
            return "infinite" if f > 0 else "minus infinite"
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.4g}"
    try:
        if v != v:  # pandas NA, NaT
            return "missing"
    except (TypeError, ValueError):
        pass
    return str(v)


def _proxies_in_data(X: "pd.DataFrame", data: "pd.DataFrame", protected: Sequence[str], seed: int
                     ) -> list[tuple[str, str]]:
    from .explain._proxy import PROXY_ASSOCIATION, association

    n = len(X)
    rng = np.random.default_rng([seed, 0x9F0])
    rows = np.sort(rng.choice(n, size=min(n, PROXY_ROWS), replace=False))
    found: dict[str, str] = {}
    for attr in protected:
        g = data[attr].iloc[rows].astype(object).to_numpy()
        for col in X.columns:
            if col in protected or col in found:
                continue
            value, measure = association(X[col].iloc[rows], g)
            if value is not None and value >= PROXY_ASSOCIATION:
                found[str(col)] = (f"associated with protected attribute {attr} in these rows ({measure} "
                                   f"{value:.2f} >= {PROXY_ASSOCIATION})")
    return list(found.items())


def proxies_from_result(table: Any) -> list[tuple[str, str]]:
    """(feature, why) for every feature an audit's proxy scan flagged (its ``proxies`` table)."""
    found: dict[str, str] = {}
    for r in table.records() if table is not None else []:
        if r.get("flag") and r["feature"] not in found:
            value = r.get("association")
            shown = f" ({r.get('measure')} {value:.2f})" if isinstance(value, float) else ""
            found[str(r["feature"])] = (
                f"the audit's proxy scan flags it as a proxy of {r['attribute']}{shown}, among the model's top "
                "features" if str(r["flag"]).startswith("proxy") else
                f"the audit's proxy scan finds it associated with {r['attribute']}{shown}")
    return list(found.items())


def reason_codes(model: Any, data: "pd.DataFrame", *, protected: Sequence[str] | str, positive_label: Any,
                 favorable: bool = True, features: Sequence[str] | None = None, threshold: float = 0.5, k: int = 4,
                 reasons: "ReasonMap | dict[str, Any] | str | os.PathLike[str] | None" = None,
                 exclude: Sequence[str] = (), proxies: Sequence[tuple[str, str]] | None = None,
                 id_column: str | None = None, seed: int = 0, background: int = 100,
                 progress: bool = False, negative_label: Any = None) -> ReasonCodes:
    """Principal reasons for each row the model gives the unfavourable outcome.

    Parameters
    ----------
    model : fitted binary classifier or pipeline
        Its ``predict_proba`` (or ``decision_function`` / ``predict``) decides who is adverse, as in the audit.
    data : DataFrame
        The rows decided (a daily batch, say): the model's features and the protected columns.
    protected : str or list of str
        Protected attributes: never given as reasons, and the proxy scan's reference.
    positive_label, favorable, threshold
        As in :func:`audit.run_audit`: the adverse outcome is the unfavourable one (``favorable=False``: the
        positive label is the unfavourable outcome).
    features : list of str, optional
        The model's input columns (default: the model's ``feature_names_in_``, else every column but ``id_column``).
    k : int, default 4
        Reasons per row, at most (fewer when fewer features pushed toward the unfavourable outcome).
    reasons : ReasonMap, dict or TOML path, optional
        Reason text per feature.
    exclude : list of str
        More features never to give as reasons (stated as excluded by the user).
    proxies : list of (feature, why), optional
        Features to exclude as proxies; default: those associated with a protected attribute in these rows
        (Cramér's V or the correlation ratio >= 0.3). :meth:`AuditResult.reason_codes` passes the audit's own scan.
    id_column : str, optional
        A column identifying each row (an application number) for the ``id`` column; default the frame's index.
    seed, background : int
        The seeded background sample (linear and model-agnostic explainers) and the model-agnostic explainer's seed.
    negative_label : optional
        The other label a model without ``classes_`` predicts (default: the one other value it gives on the first
        1,000 rows).
    """
    import pandas as pd

    from ._model import predict_fn
    from .explain._shap import estimator_kind, explain_rows, split_pipeline

    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, found {type(data).__name__}: load the rows first "
                         "(audit reasons reads CSV or Parquet files).", code="bad_data")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise ConfigError(f"k={k!r} is invalid: give the number of reasons per row, an integer from 1 to {MAX_K}.",
                          code="bad_k")
    protected = [protected] if isinstance(protected, str) else [str(p) for p in protected]
    if not protected:
        raise ConfigError("protected= is empty: name the protected attributes, which are never given as reasons.",
                          code="no_protected")
    for col in protected + ([id_column] if id_column else []):
        if col not in data.columns:
            what = "protected attribute" if col in protected else "id_column"
            raise InputError(f"{what} {col!r} is not a column of the data; columns: "
                             f"{', '.join(map(str, list(data.columns)[:20]))}.", code="missing_column", column=col)
    if features is None:
        names = getattr(model, "feature_names_in_", None)
        features = [str(c) for c in names] if names is not None else [c for c in data.columns if c != id_column]
    features = [features] if isinstance(features, str) else list(features)
    for col in features:
        if col not in data.columns:
            raise InputError(f"feature {col!r} (one of the model's inputs) is not a column of the data: give the "
                             "rows the model was audited on, with the same columns.", code="missing_column",
                             column=str(col))
    exclude = [exclude] if isinstance(exclude, str) else list(exclude)
    for col in exclude:
        if col not in features:
            raise ConfigError(f"exclude names {col!r}, which is not one of the model's features.",
                              code="unknown_feature")
    if reasons is None:
        reasons = ReasonMap()
    elif isinstance(reasons, dict):
        reasons = ReasonMap.from_dict(reasons)
    elif not isinstance(reasons, ReasonMap):
        reasons = ReasonMap.from_toml(reasons)
    reasons.check(features)
    if not isinstance(favorable, (bool, np.bool_)):
        raise ConfigError(f"favorable={favorable!r} is invalid: give True (the positive label is the favourable "
                          "outcome) or False.", code="bad_favorable")

    X = data[features]
    labels = [positive_label] + ([negative_label] if negative_label is not None else [])
    if negative_label is None and getattr(model, "classes_", None) is None and not hasattr(model, "predict_proba") \
            and not hasattr(model, "decision_function"):  # a function or predict-only model giving labels
        from ._model import call_model
        from ._validation import py_value

        call = model.predict if hasattr(model, "predict") else model
        seen = np.asarray(call_model("the model call", call, X.iloc[:1000])).ravel().tolist()
        others = list(dict.fromkeys(py_value(v) for v in seen if py_value(v) != positive_label))
        if len(others) == 1:  # labels, not scores: the one other value is the negative label
            labels.append(others[0])
    _, fn, kind = predict_fn(model, positive_label, labels, threshold)
    preds, scores = fn(X)
    fav = 1 if favorable else 0
    adverse = np.flatnonzero(np.asarray(preds) != fav)
    est = split_pipeline(model)[1]
    neg = _other_label(model, positive_label)
    outcome = (f"predicted {'not ' if favorable else ''}{positive_label!s}" if neg is None else
               f"predicted {neg if favorable else positive_label!s}")
    excluded: dict[str, str] = {}
    for p in protected:
        if p in features:
            excluded[p] = "protected attribute"
    for f in exclude:
        excluded.setdefault(str(f), "excluded by the user")
    if proxies is None:
        proxies = _proxies_in_data(X.drop(columns=[c for c in protected if c in X.columns]), data, protected, seed)
    for f, why in proxies:
        if f in features:
            excluded.setdefault(f, why)
    notes: list[str] = []
    ids = data[id_column].to_numpy() if id_column else data.index.to_numpy()
    score_arr = scores if scores is not None else np.asarray(preds, dtype=float)
    if len(adverse) == 0:
        kind_name = estimator_kind(est)
        return ReasonCodes((), int(k), len(data), 0, outcome, {"tree": "exact SHAP values (TreeSHAP)",
                           "linear": "exact SHAP values of the linear model"}.get(kind_name, "SHAP values"),
                           "not computed: no adverse decision", tuple(excluded.items()), tuple(notes))

    rng = np.random.default_rng([seed, 0xAD])
    bg = np.sort(rng.choice(len(X), size=min(background, len(X)), replace=False))

    def predict(frame: "pd.DataFrame") -> np.ndarray:
        p, s = fn(frame)
        return s if s is not None else np.asarray(p, dtype=float)

    hint = {"probability": "probability", "decision": "decision score"}.get(kind or "", "prediction (0/1)")
    res = explain_rows(model, X.iloc[adverse], X.iloc[bg], positive_label, predict, hint, seed, progress=progress)
    if not res.mapped:
        raise ModelError("reason codes need each contribution traced to one of the data's columns, and this "
                         f"pipeline's transformed columns combine several ({res.note}); explain the model on its "
                         "original columns (one transformer per column, e.g. a ColumnTransformer).",
                         code="untraceable_features")
    if res.note:
        notes.append(res.note)
    feats = list(res.features)
    if UNTRACED in feats:
        excluded.setdefault(UNTRACED, "transformed columns not traceable to one of the data's columns")
    signed = res.values * (1.0 if favorable else -1.0)
    allowed = np.array([f not in excluded for f in feats])
    tol = 1e-12 * (1.0 + np.abs(res.values).sum(1, keepdims=True))
    masked = np.where(allowed[None, :] & (signed < -tol), signed, np.inf)
    order = np.argsort(masked, axis=1, kind="stable")[:, :k]
    columns = {f: X[f].iloc[adverse].tolist() for f in feats if f in X.columns}
    rows: list[tuple[Any, ...]] = []
    none = 0
    for i, pos in enumerate(adverse.tolist()):
        ident = _plain(ids[pos])
        score = float(score_arr[pos])
        rank = 0
        for j in order[i]:
            if not np.isfinite(masked[i, j]):
                break
            rank += 1
            f = feats[j]
            value = readable(columns[f][i])
            detail = f"{reasons.names.get(f, f)} = {value}"
            rows.append((pos, ident, score, rank, f, value, detail, reasons.texts.get(f, detail),
                         float(signed[i, j])))
        if rank == 0:
            none += 1
            rows.append((pos, ident, score, 0, "", "", "", NO_REASON, None))
    if none:
        notes.append(f"{none:,} adverse row(s) have no permitted reason: {NO_REASON}.")
    if kind is None:
        notes.append("the model gives only predicted labels (no probability or decision score): contributions are "
                     "to its 0/1 decision")
    return ReasonCodes(tuple(rows), int(k), len(data), len(adverse), outcome, res.explainer, res.space,
                       tuple(excluded.items()), tuple(notes))


def _other_label(model: Any, positive: Any) -> Any:
    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2:
        return None
    from ._validation import py_value

    others = [py_value(c) for c in np.asarray(classes).tolist() if py_value(c) != positive]
    return others[0] if len(others) == 1 else None


def _plain(v: Any) -> Any:
    """An identifier as plain JSON-able data."""
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, (int, float, str)) or v is None else str(v)
