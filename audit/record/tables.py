"""The frozen building blocks of a result: tables of plain values, a module's section (named tables and facts),
the model's description and a module's failure. Immutable; JSON never holds NaN or Infinity (``None``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

METRIC_COLUMNS = ("attribute", "group", "metric", "value", "ci_low", "ci_high", "n", "status", "reason")
DISPARITY_COLUMNS = ("attribute", "group", "reference", "metric", "value", "ci_low", "ci_high", "p_value", "verdict",
                     "comparison", "p_value_raw", "flag", "reason")
GROUP_COLUMNS = ("attribute", "group", "n", "positives", "negatives", "predicted_positives", "favorable_rate",
                 "is_reference", "status", "reason")
#: a regression audit's groups: sizes, mean prediction and label, scoring rate
REGRESSION_GROUP_COLUMNS = ("attribute", "group", "n", "mean_prediction", "mean_label", "scoring_rate",
                            "is_reference", "status", "reason")
#: a multiclass audit's tables: every metric and disparity row names its class
CLASS_METRIC_COLUMNS = METRIC_COLUMNS[:2] + ("class",) + METRIC_COLUMNS[2:]
CLASS_DISPARITY_COLUMNS = DISPARITY_COLUMNS[:2] + ("class",) + DISPARITY_COLUMNS[2:]
MULTICLASS_GROUP_COLUMNS = ("attribute", "group", "n", "favorable_rate", "is_reference", "status", "reason")
#: the result's main tables by task: (metrics, disparities, groups)
CORE_TABLES = {
    "binary": (METRIC_COLUMNS, DISPARITY_COLUMNS, GROUP_COLUMNS),
    "regression": (METRIC_COLUMNS, DISPARITY_COLUMNS, REGRESSION_GROUP_COLUMNS),
    "multiclass": (CLASS_METRIC_COLUMNS, CLASS_DISPARITY_COLUMNS, MULTICLASS_GROUP_COLUMNS),
}


def column_kinds() -> dict[str, str]:
    """The kind of every non-text column (float, int, bool, int_or_null), as the registered modules declare them."""
    from .. import registry

    return registry.column_kinds()


def _clean(v: Any) -> Any:
    """Python scalars only; NaN and infinities become None."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:  # the common cases first: tables have many cells
        return v
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass(frozen=True)
class Table:
    """An immutable table: column names and rows of plain Python values."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...] = ()

    @classmethod
    def from_records(cls, columns: tuple[str, ...], records: Iterable[dict[str, Any]]) -> "Table":
        return cls(columns, tuple(tuple(_clean(r.get(c)) for c in columns) for r in records))

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        df = pd.DataFrame(list(self.rows), columns=list(self.columns), dtype=object)
        kinds = column_kinds()
        for c in self.columns:
            kind = kinds.get(c)
            if kind == "float":
                df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
            elif kind == "int":
                df[c] = df[c].astype("int64")
            elif kind == "bool":
                df[c] = df[c].astype(bool)
            else:
                df[c] = df[c].astype(object)
        return df

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "rows": [list(r) for r in self.rows]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Table":
        return cls(tuple(d["columns"]), tuple(tuple(r) for r in d["rows"]))

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Section:
    """The frozen output of one optional module (training data, explanations, mitigation): named tables and
    plain JSON-able facts (``info``). The result holds sections by name; renderers read them, never compute."""

    name: str
    tables: tuple[tuple[str, Table], ...] = ()
    info: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:  # one order (by name), so a section equals itself read back from any JSON
        object.__setattr__(self, "tables", tuple(sorted(self.tables, key=lambda kv: kv[0])))
        object.__setattr__(self, "info", tuple(sorted(((k, _freeze(_thaw(v))) for k, v in self.info),
                                                      key=lambda kv: kv[0])))

    def table(self, key: str) -> Table | None:
        return dict(self.tables).get(key)

    def frame(self, key: str) -> "pd.DataFrame":
        t = self.table(key)
        if t is None:
            raise KeyError(f"section {self.name!r} has no table {key!r}; it has {[k for k, _ in self.tables]}")
        return t.to_frame()

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.info).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return {"tables": {k: t.to_dict() for k, t in self.tables}, "info": {k: _thaw(v) for k, v in self.info}}

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> "Section":
        info = d.get("info")
        return cls(name, tuple((k, Table.from_dict(t)) for k, t in d.get("tables", {}).items()),
                   tuple(info.items()) if isinstance(info, dict) else ())  # frozen in __post_init__


def _freeze(v: Any) -> Any:
    """JSON values as hashable, immutable Python values (dicts keep their keys; lists become tuples)."""
    if isinstance(v, dict):
        return _FrozenDict((k, _freeze(x)) for k, x in v.items())
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


class _FrozenDict(dict):
    """A dict that refuses changes (section info is part of a frozen result)."""

    def _refuse(self, *a: Any, **k: Any) -> None:
        raise TypeError("section info is frozen")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: str(kv[0]))))


def _thaw(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _thaw(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_thaw(x) for x in v]
    return v


@dataclass(frozen=True)
class ModelInfo:
    description: str
    method: str
    score_kind: str | None
    fingerprint: str | None
    deterministic: bool | None


@dataclass(frozen=True)
class ModuleError:
    """A module that failed: recorded in the result instead of sinking the audit."""

    module: str
    error_type: str
    message: str
