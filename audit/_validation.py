"""Validate the inputs of an audit once, at the boundary, and return normalised arrays.

Every error names the argument or column, what was found, and how to fix it. Nothing downstream
re-validates.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ._parallel import parallel_map
from .config import AuditConfig
from .stats.scores import row_chunks
from .exceptions import InputError

NOT_A_DATAFRAME = "data must be a pandas DataFrame; got {found}. Wrap your array with pandas.DataFrame(X, columns=...)."
NO_ROWS = "{what} has zero rows: an audit needs at least one row per group."
DUPLICATE_COLUMNS = "data has duplicated column names {names}: rename them so every column is unique."
MISSING_COLUMN = "{what} column {name!r} is not in data{hint}. Columns available: {available}."
MISSING_VALUES = ("{what} column {name!r} has {count:,} missing value(s) (NaN/None), first at index {first!r}. "
                  "Drop or fill those rows before auditing (for a protected attribute, an explicit "
                  "'unknown' category is usually better than dropping).")
TOO_MANY_LABELS = ("label column {name!r} has {count} distinct values ({values}); a binary classifier audit needs "
                   "exactly two. Map the label to two classes first, or audit a multiclass or regression model with "
                   "run_audit(task=...) (monitoring over time audits yes/no decisions).")
NEED_POSITIVE = ("label column {name!r} has values {values}: say which one is the positive (predicted) class, "
                 "e.g. positive_label={example!r}.")
POSITIVE_ABSENT = ("positive_label={positive!r} does not occur in label column {name!r}; values found: {values}. "
                   "Pass one of those values (mind the type: 1 and '1' differ).")
TOO_MANY_GROUPS = ("protected attribute {name!r} has {count:,} distinct values, more than max_groups={max_groups}. "
                   "Bin it first (for example pandas.cut(data[{name!r}], bins=[0, 25, 45, 200])) or raise max_groups.")
LENGTH_MISMATCH = "{what} has {found:,} rows but data has {expected:,}: pass one value per data row, in data's row order."
INDEX_MISMATCH = ("{what} is a pandas Series whose index does not match data's index (first label not in data: "
                  "{label!r}). Rows are never paired by position: pass a Series indexed like data, or a numpy array "
                  "in data's row order.")
NONFINITE_SCORES = ("scores contain {count:,} NaN or infinite value(s), first at row {first}. Scores must be finite "
                    "probabilities of the positive label.")
SCORES_OUT_OF_RANGE = ("scores must be probabilities of the positive label in [0, 1]; found values from {low!r} to {high!r}. "
                       "Pass predict_proba()[:, positive column], or give predictions instead.")
PREDICTIONS_VALUES = ("predictions contain values {values} that are not label values {labels}. Pass predictions as label "
                      "values or as booleans (True = positive label {positive!r}).")
PREDICTIONS_MISSING = "predictions contain {count:,} missing value(s), first at row {first}: every row needs a prediction."
BAD_PROTECTED = "protected must be a non-empty list of column names; got {found}."
PROTECTED_TWICE = "protected lists a column twice: {found}. List each column once."
PROTECTED_IS_LABEL = "protected column {name!r} is the label column; choose a different protected attribute."
NOTHING_TO_AUDIT = ("model is None and neither predictions= nor scores= is given: pass a fitted model, or "
                    "precomputed predictions and/or scores.")
AMBIGUOUS_PREDICTIONS = ("pass either a model or precomputed predictions/scores, not both (the audit would not know "
                         "which to trust).")
REFERENCE_UNKNOWN = ("reference group {group!r} for {attribute!r} is not a group of that attribute{hint}. "
                     "Groups: {groups}.")
REFERENCE_ATTRIBUTE = "reference names {attribute!r}, which is not an audited attribute; audited: {attributes}."
LABEL_IN_FEATURES = "features include the label column {name!r}: a model must not see the label. Remove it from features."


def _suggest(name: Any, options: Sequence[Any]) -> str:
    names = [str(o) for o in options]
    folded = [o for o in names if o.casefold() == str(name).casefold()]
    close = folded or difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def as_list(values: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(repr(py_value(v)) for v in list(values)[:limit])
    more = len(values) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "")


def py_value(v: Any) -> Any:
    """numpy scalars to Python scalars (for messages and JSON)."""
    return v.item() if isinstance(v, np.generic) else v


@dataclass(frozen=True)
class Attribute:
    """One protected attribute: group names (strings, in a stable order) and a code per row."""

    name: str
    groups: tuple[str, ...]
    codes: np.ndarray  # int32, one per row, indexes ``groups``
    categorical: bool  # groups declared by a categorical dtype (absent ones kept with n = 0)


@dataclass(frozen=True)
class ValidatedInputs:
    data: pd.DataFrame
    n: int
    label: str
    positive_label: Any
    negative_label: Any
    favorable: bool
    y: np.ndarray  # int8 0/1, 1 = positive label
    attributes: tuple[Attribute, ...]
    features: tuple[str, ...]
    predictions: np.ndarray | None  # int8 0/1 when given by the user
    scores: np.ndarray | None  # float64 probabilities when given by the user
    reference: dict[str, str]
    fingerprint: str
    #: a regression or multiclass audit's validated label (``audit._tasks.Target``); None for a binary audit, whose
    #: label is ``y``. With a target, ``y`` is its binary view and positive_label / negative_label are None
    target: Any = None

    @property
    def task(self) -> str:
        return "binary" if self.target is None else self.target.task


def require_column(data: pd.DataFrame, name: Any, what: str) -> None:
    if name not in data.columns:
        raise InputError(MISSING_COLUMN.format(what=what, name=name, hint=_suggest(name, data.columns),
                                               available=as_list(list(data.columns), 20)),
                         code="missing_column", column=str(name))


def _check_missing(series: pd.Series, what: str) -> None:
    mask = series.isna().to_numpy()
    if mask.any():
        first = series.index[int(np.argmax(mask))]
        raise InputError(MISSING_VALUES.format(what=what, name=series.name, count=int(mask.sum()), first=py_value(first)),
                         code="missing_values", column=str(series.name))


def factorize(series: pd.Series, arrow: tuple[np.ndarray, list[str]] | None = None
              ) -> tuple[np.ndarray, list[Any], bool]:
    """Codes and ordered unique values; categorical dtypes keep their declared categories. ``arrow``: the
    column's codes from :func:`_arrow_string_codes` when computed already."""
    if isinstance(series.dtype, pd.CategoricalDtype):  # codes in their own narrow dtype (no copy)
        return series.cat.codes.to_numpy(), list(series.cat.categories), True
    arrow = arrow if arrow is not None else _arrow_string_codes(series)
    codes, uniques = arrow if arrow is not None else pd.factorize(series, sort=False)
    uniques = list(uniques)
    try:
        order = sorted(range(len(uniques)), key=lambda i: uniques[i])
    except TypeError:
        order = sorted(range(len(uniques)), key=lambda i: str(uniques[i]))
    dtype = np.int8 if len(uniques) < 128 else np.int16 if len(uniques) < 32768 else np.int32
    remap = np.empty(len(uniques), dtype=dtype)
    remap[order] = np.arange(len(uniques), dtype=dtype)
    return remap[codes], [uniques[i] for i in order], False


def validate_training(train_data: Any, inputs: ValidatedInputs, config: AuditConfig,
                      reference: dict[str, Any] | None) -> ValidatedInputs:
    """Training rows with the audit's label and protected columns, their labels as the predictions (data-level
    bias before any model): validated once per audit, for every module that uses them. A problem is named as the
    training data's."""
    from .exceptions import AuditError

    try:
        return validate_inputs(train_data, label=inputs.label, positive_label=inputs.positive_label,
                               favorable=inputs.favorable, protected=[a.name for a in inputs.attributes],
                               reference=reference, features=[], model_features=None, predictions=inputs.label,
                               scores=None, config=config)
    except AuditError as exc:
        raise type(exc)(f"train_data: {exc}", code=exc.code, column=getattr(exc, "column", None)) from None


def check_model_arguments(model: Any, predictions: Any, scores: Any) -> None:
    """A model, or precomputed predictions and/or scores: exactly one of the two (every path, every engine)."""
    if model is None and predictions is None and scores is None:
        raise InputError(NOTHING_TO_AUDIT, code="nothing_to_audit")
    if model is not None and (predictions is not None or scores is not None):
        raise InputError(AMBIGUOUS_PREDICTIONS, code="ambiguous_predictions")


def protected_columns(protected: Any, label: Any, require: Callable[[Any], Any]) -> list[Any]:
    """The ``protected`` argument as a list of columns, checked the same way for rows in memory and for an engine:
    a name or a non-empty list, no column twice, each present (``require(name)`` raises naming it), none the
    label."""
    if isinstance(protected, str):
        protected = [protected]
    if not isinstance(protected, (list, tuple)) or not protected:
        raise InputError(BAD_PROTECTED.format(found=repr(protected)), code="bad_protected")
    if len(set(map(str, protected))) != len(protected):
        raise InputError(PROTECTED_TWICE.format(found=repr(protected)), code="bad_protected")
    for name in protected:
        require(name)
        if name == label:
            raise InputError(PROTECTED_IS_LABEL.format(name=name), code="bad_protected", column=str(name))
    return list(protected)


def _arrow_string_codes(series: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """Codes (in order of first appearance) and distinct values of a pyarrow-backed string column without
    missing values, from pyarrow's own hash kernel in one pass (pandas' path for these columns converts the codes
    several times: 0.3 s per 10 million rows against 0.15 s); None for any other column."""
    to_arrow = getattr(series.array, "__arrow_array__", None) if isinstance(series, pd.Series) else None
    if to_arrow is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    values = to_arrow()
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    if not isinstance(values, pa.ChunkedArray) or values.null_count or not (
            pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    if values.num_chunks == 0:
        return np.empty(0, dtype=np.int32), []
    encoded = pc.dictionary_encode(values).unify_dictionaries()
    codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in encoded.chunks])
    return codes, encoded.chunk(0).dictionary.to_pylist()


def group_name(value: Any) -> str:
    value = py_value(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 1.0 and 1 name the same group whatever the column dtype
    return str(value)


def _label_values(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes and the distinct values (in order of appearance; integer labels: ascending)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(series.cat.categories.dtype)
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iub" and len(series) > 1 << 16:
        small = _small_int_codes(series.to_numpy())
        if small is not None:
            return small
    codes, uniques = pd.factorize(series, sort=False)
    return codes, [py_value(u) for u in uniques]


def _small_int_codes(values: np.ndarray) -> tuple[np.ndarray, list[Any]] | None:
    """Codes of integer or boolean values spanning a small range, by counting in row chunks (a hash-table
    factorize costs several times more on millions of rows); None for a wide range."""
    lo, hi = int(values.min()), int(values.max())
    if hi - lo >= 1 << 16:
        return None
    chunks = row_chunks(len(values))
    seen = np.zeros(hi - lo + 1, dtype=np.int64)
    for sl in chunks:
        seen += np.bincount(values[sl].astype(np.int64) - lo, minlength=hi - lo + 1)
    present = np.flatnonzero(seen)
    dtype = np.int8 if len(present) < 128 else np.int32
    lookup = np.zeros(hi - lo + 1, dtype=dtype)
    lookup[present] = np.arange(len(present))
    codes = np.empty(len(values), dtype=dtype)
    for sl in chunks:
        codes[sl] = lookup[values[sl].astype(np.int64) - lo]
    return codes, [py_value(values.dtype.type(v + lo)) for v in present]


def infer_positive(values: list[Any], name: str) -> Any:
    s = set(values)
    if s <= {0, 1} and all(isinstance(v, (int, float, bool, np.bool_)) for v in values):
        return True if all(isinstance(v, (bool, np.bool_)) for v in values) else 1
    example = sorted(values, key=str)[-1]
    raise InputError(NEED_POSITIVE.format(name=name, values=as_list(values), example=example), code="need_positive_label",
                     column=name)


def _aligned(obj: Any, what: str, data: pd.DataFrame) -> np.ndarray | pd.Series:
    """Values of ``obj`` in data's row order: a Series is matched by index, never by position."""
    if isinstance(obj, str) and obj in data.columns:
        return data[obj]
    if isinstance(obj, pd.DataFrame):
        if obj.shape[1] != 1:
            raise InputError(f"{what} is a DataFrame with {obj.shape[1]} columns; pass one column (a Series or array).",
                             code="bad_shape")
        obj = obj.iloc[:, 0]
    if isinstance(obj, pd.Series):
        if len(obj) != len(data):
            raise InputError(LENGTH_MISMATCH.format(what=what, found=len(obj), expected=len(data)), code="length_mismatch")
        if obj.index.equals(data.index):
            return obj
        if not (obj.index.is_unique and data.index.is_unique):
            raise InputError(f"{what} and data must have unique indexes to be matched by label; found duplicated "
                             "index labels. Reset both indexes or pass a numpy array in data's row order.",
                             code="index_mismatch")
        missing = data.index.difference(obj.index)
        if len(missing):
            extra = obj.index.difference(data.index)
            raise InputError(INDEX_MISMATCH.format(what=what, label=py_value(extra[0]) if len(extra) else py_value(missing[0])),
                             code="index_mismatch")
        return obj.reindex(data.index)
    arr = np.asarray(obj)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(f"{what} must be one-dimensional (one value per row); got shape {arr.shape}. "
                         "For predict_proba output pass the positive class's column.", code="bad_shape")
    if len(arr) != len(data):
        raise InputError(LENGTH_MISMATCH.format(what=what, found=len(arr), expected=len(data)), code="length_mismatch")
    return arr


def validate_scores(values: Any, what: str = "scores", *, probability: bool = True) -> np.ndarray:
    if isinstance(values, pd.Series):
        values = values.to_numpy() if values.dtype == np.float64 else values.to_numpy(dtype=float, na_value=np.nan)
    arr = np.asarray(values)
    try:
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric probabilities; found values of type {arr.dtype}.",
                         code="bad_scores") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(NONFINITE_SCORES.format(count=int(bad.sum()), first=int(np.argmax(bad))).replace(
            "scores", what, 1), code="nonfinite_scores")
    if probability and len(arr) and (arr.min() < 0 or arr.max() > 1):
        raise InputError(SCORES_OUT_OF_RANGE.format(low=float(arr.min()), high=float(arr.max())).replace(
            "scores", what, 1), code="scores_out_of_range")
    return arr


def encode_predictions(values: Any, label_values: list[Any], positive: Any, what: str = "predictions") -> np.ndarray:
    """0/1 predictions from label values or booleans."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    mask = series.isna().to_numpy()
    if mask.any():
        raise InputError(PREDICTIONS_MISSING.format(count=int(mask.sum()), first=int(np.argmax(mask))).replace(
            "predictions", what, 1), code="missing_predictions")
    codes, uniques = _label_values(series)
    uniques_set = set(uniques)
    if pd.api.types.is_bool_dtype(series.dtype) and not uniques_set <= set(label_values):
        pos_code = [i for i, u in enumerate(uniques) if u is True or u == True]  # noqa: E712
    else:
        unknown = [u for u in uniques if u not in label_values]
        if unknown:
            raise InputError(PREDICTIONS_VALUES.format(values=as_list(unknown), labels=as_list(label_values),
                                                       positive=positive).replace("predictions", what, 1),
                             code="bad_predictions")
        pos_code = [i for i, u in enumerate(uniques) if u == positive]
    out = np.zeros(len(series), dtype=np.int8)
    if pos_code:
        out[codes == pos_code[0]] = 1
    return out


_MISSING_HASH = np.uint64(0x5BD1E995)


_NAN_BITS = np.array(np.nan).view(np.uint64)


def _hash_floats(values: np.ndarray) -> np.ndarray:
    """uint64 hashes of float64 values (splitmix64 of the bits; -0.0 as 0.0, every NaN alike). Our own
    arithmetic, not pandas' hash_array, whose float hashes changed between pandas 2 and 3."""
    bits = values.view(np.uint64).copy()
    bits[values == 0] = 0
    bits[np.isnan(values)] = _NAN_BITS
    with np.errstate(over="ignore"):
        bits ^= bits >> np.uint64(30)
        bits *= np.uint64(0xBF58476D1CE4E5B9)
        bits ^= bits >> np.uint64(27)
        bits *= np.uint64(0x94D049BB133111EB)
        bits ^= bits >> np.uint64(31)
    return bits


def _hash_values(values: np.ndarray) -> np.ndarray:
    try:
        return pd.util.hash_array(values, categorize=False)
    except UnicodeEncodeError:  # lone surrogates cannot be UTF-8: hash those values' escaped text instead
        fixed = np.array([repr(v) if isinstance(v, str) and _has_surrogate(v) else v for v in values], dtype=object)
        return pd.util.hash_array(fixed, categorize=False)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _hash_times(uniques: Any) -> np.ndarray | None:
    """The hashes ``_hash_values`` gives distinct naive timestamps (the hash of their text, as str() writes it),
    computed without building a Timestamp object per value: whole seconds only (str() adds fractions otherwise);
    None for anything else. A year of decisions timed to the second has millions of distinct values."""
    values = getattr(uniques, "dtype", None)
    if values is None or not isinstance(values, np.dtype) or values.kind != "M":
        return None
    raw = np.asarray(uniques).astype("datetime64[ns]")
    ns = raw.view(np.int64)
    if len(ns) == 0 or (ns % 1_000_000_000).any():
        return None
    text = np.char.replace(np.datetime_as_string(raw, unit="s"), "T", " ")
    return pd.util.hash_array(text.astype(object), categorize=False)


def _row_hasher(s: pd.Series, known: tuple[np.ndarray, list[Any]] | None = None) -> Callable[[slice], np.ndarray]:
    """Per-row uint64 hashes of a column, by row slice; equal values hash alike whatever the dtype. ``known``: the
    column's codes and distinct values when validation has them already (text columns without missing values)."""
    if known is not None:
        codes, uniques = known
        table = _hash_values(np.asarray(uniques, dtype=object))
        return lambda sl: table[codes[sl]]
    if isinstance(s.dtype, pd.CategoricalDtype):  # hash the categories once, then index by code
        table = np.r_[_hash_values(np.asarray(s.cat.categories.astype(object))), _MISSING_HASH]
        codes = s.cat.codes.to_numpy()  # code -1 (missing) takes the last entry
        return lambda sl: table[codes[sl]]
    if pd.api.types.is_numeric_dtype(s.dtype):  # nullable and boolean included: as float64
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        return lambda sl: _hash_floats(values[sl])
    # object, python and pyarrow strings hash alike: hash each distinct value once
    try:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        table = _hash_times(uniques)
        if table is None:
            table = _hash_values(np.asarray(uniques, dtype=object))
    except TypeError:  # unhashable values (lists, dicts): hash their text
        codes, uniques = pd.factorize(s.map(repr), use_na_sentinel=True)
        table = _hash_values(np.asarray(uniques, dtype=object))
    table = np.r_[table, _MISSING_HASH]  # missing values (code -1) hash alike whatever their kind
    return lambda sl: table[codes[sl]]


def fingerprint(data: pd.DataFrame, columns: Sequence[str], y: np.ndarray,
                known: dict[str, tuple[np.ndarray, list[Any]]] | None = None) -> str:
    """sha256 of the canonical audited data, independent of row order, index and dtype choice.

    Numeric columns (nullable ones included) are hashed as float64, all others as text (a categorical by
    its category values); per-row hashes are combined by order-independent sums, streamed over row chunks.
    """
    hashers = [_row_hasher(data[col], (known or {}).get(col)) for col in columns]
    prime = np.uint64(0x100000001B3)
    mix = np.uint64(0x9E3779B97F4A7C15)

    def part(chunks: list[slice]) -> tuple[int, int, int]:
        s1 = s2 = s3 = 0
        with np.errstate(over="ignore"):
            for sl in chunks:
                h = np.zeros(sl.stop - sl.start, dtype=np.uint64)
                for hasher in hashers:
                    h ^= hasher(sl)
                    h *= prime
                np.add(h, y[sl], out=h, casting="unsafe")  # the label: 0/1 mixed in by the multiply
                h *= prime
                s1 += int(h.sum(dtype=np.uint64))
                s2 += int((h * mix).sum(dtype=np.uint64))
                s3 ^= int(np.bitwise_xor.reduce(h)) if len(h) else 0
        return s1, s2, s3

    # sums and xor are order-independent: the chunks are split between two threads
    chunks = row_chunks(len(y))
    parts = parallel_map(part, [chunks[0::2], chunks[1::2]]) if len(chunks) > 1 else [part(chunks)]
    s1 = sum(p[0] for p in parts)
    s2 = sum(p[1] for p in parts)
    s3 = functools.reduce(operator.xor, (p[2] for p in parts), 0)
    digest = hashlib.sha256()
    digest.update(repr((list(map(str, columns)), len(y), s1 % 2**64, s2 % 2**64, s3)).encode())
    return digest.hexdigest()


def _protected_and_features(data: pd.DataFrame, *, protected: Any, label: Any, features: Sequence[str] | None,
                            model_features: Sequence[str] | None, config: AuditConfig
                            ) -> tuple[list[Any], list[Attribute], dict[str, tuple[np.ndarray, list[Any]]], list[Any]]:
    """The protected attributes (codes and group names) and the model's feature columns, checked."""
    # protected attributes
    protected = protected_columns(protected, label, lambda name: require_column(data, name, "protected"))
    attributes = []
    text_codes: dict[str, tuple[np.ndarray, list[Any]]] = {}
    # pyarrow-backed text columns are encoded by pyarrow, which releases the GIL: two columns at a time
    present = [name for name in protected if name in data.columns]
    arrow_codes = dict(zip(present, parallel_map(lambda c: _arrow_string_codes(data[c]), present)))
    for name in protected:
        s = data[name]
        _check_missing(s, "protected")
        pcodes, uniques, categorical = factorize(s, arrow_codes.get(name))
        infinite = [u for u in uniques if isinstance(py_value(u), float) and math.isinf(py_value(u))]
        if infinite:
            bad = s.map(lambda v: isinstance(py_value(v), float) and math.isinf(py_value(v))).to_numpy(dtype=bool)
            raise InputError(f"protected column {name!r} has {int(bad.sum()):,} infinite value(s), first at index "
                             f"{data.index[int(np.argmax(bad))]!r}: an infinity is not a group. Replace it with an "
                             "explicit category, or bin the column.", code="infinite_group", column=str(name))
        if len(uniques) > config.max_groups:
            raise InputError(TOO_MANY_GROUPS.format(name=name, count=len(uniques), max_groups=config.max_groups),
                             code="too_many_groups", column=str(name))
        names = [group_name(u) for u in uniques]
        if len(set(names)) != len(names):
            dup = [n for n in names if names.count(n) > 1][0]
            raise InputError(f"protected column {name!r} has distinct values that print the same ({dup!r}); "
                             "convert the column to one type first.", code="ambiguous_groups", column=str(name))
        attributes.append(Attribute(str(name), tuple(names), pcodes, categorical))
        if not categorical and not pd.api.types.is_numeric_dtype(s.dtype):  # text: hashed from these codes
            text_codes[str(name)] = (pcodes, uniques)

    # features
    if features is None:
        features = list(model_features) if model_features is not None else [c for c in data.columns if c != label]
    else:
        if isinstance(features, str):
            features = [features]
        features = list(features)
    for col in features:
        require_column(data, col, "feature")
    if label in features and model_features is None:
        raise InputError(LABEL_IN_FEATURES.format(name=label), code="label_in_features", column=str(label))

    return protected, attributes, text_codes, features


def validate_inputs(data: Any, *, label: Any, positive_label: Any, favorable: bool, protected: Any,
                    reference: dict[str, Any] | None, features: Sequence[str] | None, model_features: Sequence[str] | None,
                    predictions: Any, scores: Any, config: AuditConfig, target: Any = None) -> ValidatedInputs:
    """The rows of an audit, checked once. ``target``: a regression or multiclass audit's label, validated by
    ``audit._tasks.validate_target`` (with its predictions); the binary label checks then do not apply."""
    if not isinstance(data, pd.DataFrame):
        raise InputError(NOT_A_DATAFRAME.format(found=type(data).__name__), code="not_a_dataframe")
    if data.columns.duplicated().any():
        dups = list(dict.fromkeys(data.columns[data.columns.duplicated()]))
        raise InputError(DUPLICATE_COLUMNS.format(names=as_list(dups)), code="duplicate_columns")
    if len(data) == 0:
        raise InputError(NO_ROWS.format(what="data"), code="no_rows")
    if not isinstance(favorable, bool):
        raise InputError(f"favorable must be True (the positive label is the favourable outcome) or False; got {favorable!r}.",
                         code="invalid_option")

    if target is not None:
        return _validate_task_rows(data, label=label, protected=protected, reference=reference, features=features,
                                   model_features=model_features, predictions=predictions, scores=scores,
                                   config=config, target=target, favorable=favorable)
    # label
    require_column(data, label, "label")
    label_series = data[label]
    _check_missing(label_series, "label")
    codes, values = _label_values(label_series)
    if len(values) > 2:
        raise InputError(TOO_MANY_LABELS.format(name=label, count=len(values), values=as_list(values)),
                         code="too_many_labels", column=str(label))
    if positive_label is None:
        positive_label = infer_positive(values, str(label))
    positive_label = py_value(positive_label)
    matches = [i for i, v in enumerate(values) if v == positive_label]
    def kind(v: Any) -> str:
        return "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else type(v).__name__

    # one label value, and a positive label of the same kind that no row holds: audited without positives (the
    # result warns); a positive label of another kind is refused below (a typo or the wrong column)
    all_negative = not matches and len(values) == 1 and kind(positive_label) == kind(values[0])
    if not matches and len(values) == 1 and not all_negative:
        raise InputError(f"label column {label!r} holds only the value {values[0]!r}, so no row has the positive label "
                         f"{positive_label!r}: recall, AUC and every comparison of error rates need rows of both "
                         f"classes. Audit data that contains both. (Passing positive_label={values[0]!r} would not fix "
                         "this: it would invert every metric unless that value really is the predicted class.)",
                         code="single_class_label", column=str(label))
    if all_negative:  # no row has the positive label: audited like a label without negatives, metrics that need
        # positives undefined with their reason (a window of a running model may hold no positives)
        y = np.zeros(len(codes), dtype=np.int8)
        negative_label = values[0]
    else:
        if not matches:
            raise InputError(POSITIVE_ABSENT.format(positive=positive_label, name=label, values=as_list(values)),
                             code="positive_label_absent", column=str(label))
        y = (codes == matches[0]).astype(np.int8)
        others = [v for i, v in enumerate(values) if i != matches[0]]
        negative_label = others[0] if others else None

    protected, attributes, text_codes, features = _protected_and_features(
        data, protected=protected, label=label, features=features, model_features=model_features, config=config)

    # predictions and scores supplied by the user
    pred_arr = score_arr = None
    for name, obj in (("predictions", predictions), ("scores", scores)):
        if isinstance(obj, str) and obj not in data.columns:
            require_column(data, obj, name)
        if isinstance(obj, str) and obj in features:
            features.remove(obj)
    if scores is not None:
        score_arr = validate_scores(_aligned(scores, "scores", data))
    if predictions is not None:
        allowed = list(values)
        if len(values) == 1 and all(isinstance(v, (bool, int, float)) for v in values) and set(values) <= {0, 1}:
            allowed.append(type(values[0])(1 - values[0]))  # one observed class of a 0/1 label: the other is valid
        pred_arr = encode_predictions(_aligned(predictions, "predictions", data), allowed, positive_label)

    # reference groups
    ref_out: dict[str, str] = {}
    for attr_name, group in (reference or {}).items():
        ref_out[str(attr_name)] = group_name(group)
    fp = fingerprint(data, [c for c in dict.fromkeys([*features, *protected]) if c != label], y, text_codes)
    return ValidatedInputs(data=data, n=len(data), label=str(label), positive_label=positive_label,
                           negative_label=negative_label, favorable=favorable, y=y, attributes=tuple(attributes),
                           features=tuple(features), predictions=pred_arr, scores=score_arr, reference=ref_out,
                           fingerprint=fp)


def _validate_task_rows(data: pd.DataFrame, *, label: Any, protected: Any, reference: dict[str, Any] | None,
                        features: Sequence[str] | None, model_features: Sequence[str] | None, predictions: Any,
                        scores: Any, config: AuditConfig, target: Any, favorable: Any) -> ValidatedInputs:
    """The rows of a regression or multiclass audit: the label and predictions come validated in ``target``."""
    protected, attributes, text_codes, features = _protected_and_features(
        data, protected=protected, label=label, features=features, model_features=model_features, config=config)
    for obj in (predictions, scores):
        if isinstance(obj, str) and obj in features:
            features.remove(obj)
    ref_out = {str(k): group_name(v) for k, v in (reference or {}).items()}
    # the label is hashed as a column (its values, not a binary view): every row's label counts
    fp = fingerprint(data, [c for c in dict.fromkeys([*features, *protected]) if c != label] + [label],
                     np.zeros(len(data), dtype=np.int8), text_codes)
    return ValidatedInputs(data=data, n=len(data), label=str(label), positive_label=None, negative_label=None,
                           favorable=bool(favorable),
                           y=target.y, attributes=tuple(attributes), features=tuple(features), predictions=None,
                           scores=None, reference=ref_out, fingerprint=fp, target=target)


def check_reference(reference: dict[str, str], partitions: dict[str, tuple[str, ...]]) -> None:
    """Reference groups must name an audited attribute and one of its groups."""
    for attr, group in reference.items():
        if attr not in partitions:
            raise InputError(REFERENCE_ATTRIBUTE.format(attribute=attr, attributes=as_list(list(partitions))),
                             code="bad_reference")
        groups = partitions[attr]
        if group not in groups:
            raise InputError(REFERENCE_UNKNOWN.format(group=group, attribute=attr, hint=_suggest(group, groups),
                                                      groups=as_list(list(groups), 20)), code="bad_reference")
