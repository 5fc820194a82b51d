"""Frozen audit results and their versioned JSON form.

An :class:`AuditResult` is plain data: tables of tuples, never mutated after it is built. The
DataFrame views (``metrics``, ``disparities``, ``groups``) are fresh copies on every access.
JSON never holds NaN or Infinity: an undefined value is ``null`` with a status and a reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .config import AuditConfig
from .exceptions import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FORMAT = "fairness-audit/result"
FORMAT_VERSION = 3
#: format 1 signed some disparities differently (see ``_upgrade_v1``); it is read and converted. Format 3 holds
#: optional modules' output as named sections (format 2 kept training data in an untyped ``extras`` list).

METRIC_COLUMNS = ("attribute", "group", "metric", "value", "ci_low", "ci_high", "n", "status", "reason")
DISPARITY_COLUMNS = ("attribute", "group", "reference", "metric", "value", "ci_low", "ci_high", "p_value", "verdict",
                     "comparison", "p_value_raw", "flag", "reason")
GROUP_COLUMNS = ("attribute", "group", "n", "positives", "negatives", "predicted_positives", "favorable_rate",
                 "is_reference", "status", "reason")


def _kinds() -> dict[str, str]:
    """The kind of every non-text column (float, int, bool, int_or_null), as the registered modules declare them."""
    from . import registry

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
        kinds = _kinds()
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


def _is_file(name: str) -> bool:
    try:
        return len(name) < 4096 and Path(name).is_file()
    except (OSError, ValueError):
        return False


_SURROGATE = re.compile("[\ud800-\udfff]")
_TABLES = {"metrics_table": METRIC_COLUMNS, "disparities_table": DISPARITY_COLUMNS, "groups_table": GROUP_COLUMNS}
_MODEL_FIELDS = {"description": (str,), "method": (str,), "score_kind": (str, type(None)),
                 "fingerprint": (str, type(None)), "deterministic": (bool, type(None))}


def _kind(v: Any) -> str:
    return "null" if v is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__)


def _check_result(d: dict[str, Any], source: str) -> None:
    """Check every field of a result dict before building it; raise InputError naming the file, key, problem."""
    from . import registry

    def bad(key: str, want: str, v: Any) -> InputError:
        return InputError(f"{source}: {key} must be {want}; found {_kind(v)} ({str(v)[:60]!r}).",
                          code="malformed_result")

    def need(key: str, ok: bool, want: str, v: Any) -> None:
        if not ok:
            raise bad(key, want, v)

    def is_num(v: Any) -> bool:  # JSON never holds NaN or infinities: an undefined value is null
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def str_list(key: str, v: Any) -> None:
        need(key, isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings", v)

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    kinds = _kinds()
    section_tables = {m.name: (m.tables, m.later) for m in registry.modules() if not m.core}

    def cell(where: str, c: str, v: Any, text: bool) -> None:
        """One value of a table, by its column's kind (``text``: other columns hold a string or null)."""
        kind = kinds.get(c)
        if kind == "float":
            need(where, v is None or is_num(v), "a number or null", v)
        elif kind == "int":
            need(where, is_int(v), "an integer", v)
        elif kind == "int_or_null":
            need(where, v is None or is_int(v), "an integer or null", v)
        elif kind == "bool":
            need(where, isinstance(v, bool), "true or false", v)
        elif text:
            need(where, v is None or isinstance(v, str), "a string or null", v)

    for key in ("created", "library_version", "label", "data_fingerprint"):
        need(key, isinstance(d.get(key), str), "a string", d.get(key))
    need("favorable", isinstance(d.get("favorable"), bool), "true or false", d.get("favorable"))
    need("n_rows", isinstance(d.get("n_rows"), int) and not isinstance(d.get("n_rows"), bool)
         and d["n_rows"] >= 0, "a non-negative integer", d.get("n_rows"))
    for key in ("positive_label", "negative_label"):
        v = d.get(key)
        need(key, v is None or isinstance(v, (str, int, float, bool)), "a label value", v)
    str_list("protected", d.get("protected"))
    str_list("features", d.get("features", []))
    model = d.get("model")
    need("model", isinstance(model, dict), "an object", model)
    for key, types in _MODEL_FIELDS.items():
        need(f"model.{key}", isinstance(model.get(key), types), " or ".join(
            {str: "a string", bool: "a boolean", type(None): "null"}[t] for t in types), model.get(key))
    need("config", isinstance(d.get("config"), dict), "an object", d.get("config"))
    for key, columns in _TABLES.items():
        t = d.get(key)
        need(key, isinstance(t, dict) and isinstance(t.get("rows"), list), 'an object with "columns" and "rows"', t)
        need(f"{key}.columns", t.get("columns") == list(columns), f"the columns {list(columns)}", t.get("columns"))
        for i, row in enumerate(t["rows"]):
            need(f"{key}.rows[{i}]", isinstance(row, list) and len(row) == len(columns),
                 f"a list of {len(columns)} values", row)
            for c, v in zip(columns, row):
                cell(f"{key}.rows[{i}] ({c})", c, v, True)
    for key in ("references", "versions"):
        v = d.get(key) or []
        need(key, isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                              for p in v), "a list of [name, value] string pairs", v)
    v = d.get("timings") or []
    need("timings", isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                and is_num(p[1]) for p in v), "a list of [stage, seconds] pairs", v)
    str_list("warnings", d.get("warnings") or [])
    v = d.get("errors") or []
    need("errors", isinstance(v, list) and all(isinstance(e, dict) and set(e) == {"module", "error_type", "message"}
                                               and all(isinstance(x, str) for x in e.values()) for e in v),
         'a list of {"module", "error_type", "message"} objects', v)
    v = d.get("extras") or []
    need("extras", isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                               for p in v), "a list of [name, value] pairs", v)
    sections = d.get("sections") or {}
    need("sections", isinstance(sections, dict), "an object of named sections", sections)
    for name, sec in sections.items():
        need(f"sections.{name}", isinstance(sec, dict) and isinstance(sec.get("tables", {}), dict)
             and isinstance(sec.get("info", {}), dict), 'an object with "tables" and "info"', sec)
        for key, t in sec.get("tables", {}).items():
            where = f"sections.{name}.tables.{key}"
            need(where, isinstance(t, dict) and isinstance(t.get("columns"), list) and isinstance(t.get("rows"), list)
                 and all(isinstance(c, str) for c in t["columns"]), 'an object with "columns" and "rows"', t)
            schema, later = section_tables.get(name, ({}, frozenset()))
            known = schema.get(key)
            if known is not None:  # a table a registered module writes: its columns, each of its type
                cols = list(t["columns"])
                need(f"{where}.columns", set(known) - later <= set(cols) <= set(known)
                     and len(set(cols)) == len(cols), f"the columns {list(known)}", cols)
            for i, row in enumerate(t["rows"]):
                need(f"{where}.rows[{i}]", isinstance(row, list) and len(row) == len(t["columns"])
                     and all(x is None or isinstance(x, (str, int, float, bool)) for x in row),
                     f"a list of {len(t['columns'])} plain values", row)
                for c, v in zip(t["columns"], row):
                    cell(f"{where}.rows[{i}] ({c})", c, v, known is not None)


def _upgrade_v2(d: dict[str, Any]) -> dict[str, Any]:
    """Format 2 -> 3: the training-data summary moves from the untyped ``extras`` list to a section."""
    d = dict(d)
    sections = dict(d.get("sections") or {})
    for name, block in d.pop("extras", None) or []:
        if name == "training_data" and isinstance(block, dict):
            rates = block.get("group_base_rates") or []
            sections["training_data"] = {
                "tables": {"groups": block["groups"], "base_rates": block["base_rates"],
                           "group_base_rates": {"columns": ["attribute", "group", "base_rate"],
                                                "rows": [list(r) for r in rates]}},
                "info": {"n_rows": block.get("n_rows"), "data_fingerprint": block.get("data_fingerprint")}}
    d["sections"] = sections
    return d


_V1_NOTE = "converted from a format-1 result (older sign convention)"


def _upgrade_v1(d: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2. Format 1 computed every disparity in the favourable frame as group minus reference, so
    ``fnr_difference`` was positive when the group fared worse, ``predictive_parity_difference`` was group minus
    reference precision, ``equalized_odds_difference`` was unsigned, and with an unfavourable positive label the
    rows named ``fpr_difference`` / ``fnr_difference`` held the metrics table's FNR / FPR. Rows are re-signed and
    renamed to today's convention (negative = the group fares worse); signed equalized odds is recomputed from
    the converted rows, without an interval (format 1 did not keep what it needs)."""
    d = dict(d)
    table = d.get("disparities_table")
    if not isinstance(table, dict) or "columns" not in table:
        return d
    cols = list(table["columns"])
    ix = {c: i for i, c in enumerate(cols)}
    favorable = bool(d.get("favorable", True))

    def negated(row: list[Any]) -> list[Any]:
        row = list(row)
        lo, hi, v = row[ix["ci_low"]], row[ix["ci_high"]], row[ix["value"]]
        row[ix["value"]] = None if v is None else -v
        row[ix["ci_low"]], row[ix["ci_high"]] = (None if hi is None else -hi), (None if lo is None else -lo)
        return row

    rows = []
    for raw in table["rows"]:
        row = list(raw)
        metric, vs_ref = row[ix["metric"]], row[ix["comparison"]] == "vs_reference"
        if metric in ("fpr_difference", "fnr_difference"):
            # favourable frame: fpr = favourable decisions among the truly unfavourable (better when higher),
            # fnr = 1 - equal opportunity (worse when higher)
            if vs_ref and metric == "fnr_difference":
                row = negated(row)
            if not favorable:  # the positive-label rates are the other way round
                row[ix["metric"]] = "fnr_difference" if metric == "fpr_difference" else "fpr_difference"
        elif metric == "predictive_parity_difference" and vs_ref:
            row = negated(row)
        rows.append(row)
    signed: dict[tuple[Any, Any], dict[str, Any]] = {}
    fav_fpr = "fpr_difference" if favorable else "fnr_difference"  # after renaming
    for row in rows:
        if row[ix["comparison"]] == "vs_reference" and row[ix["metric"]] in ("equal_opportunity_difference", fav_fpr):
            signed.setdefault((row[ix["attribute"]], row[ix["group"]]), {})[row[ix["metric"]]] = row[ix["value"]]
    for row in rows:
        if row[ix["metric"]] == "equalized_odds_difference" and row[ix["comparison"]] == "vs_reference":
            parts = signed.get((row[ix["attribute"]], row[ix["group"]]), {})
            both = [parts.get("equal_opportunity_difference"), parts.get(fav_fpr)]
            row[ix["value"]] = min(both) if None not in both else None
            row[ix["ci_low"]] = row[ix["ci_high"]] = None
            row[ix["reason"]] = "; ".join(x for x in (row[ix["reason"]], _V1_NOTE + ": no interval") if x)
    d["disparities_table"] = {"columns": cols, "rows": rows}
    d["warnings"] = list(d.get("warnings") or []) + [f"this result was {_V1_NOTE}; re-run the audit for intervals "
                                                     "of the signed equalized odds difference"]
    return d


@dataclass(frozen=True)
class AuditResult:
    """Everything an audit found. Frozen; render it, gate it, or store it as JSON.

    Returned by :func:`audit.run_audit`. The tables are tuples of plain values; the DataFrame properties
    (``metrics``, ``disparities``, ``groups`` and the explanation tables) return fresh copies. Renderers
    (``to_html``, ``summary``) and the gate (``gate``) read it and never compute.

    Attributes
    ----------
    n_rows : int
        Rows audited.
    protected : tuple of str
        The protected attributes.
    data_fingerprint : str
        sha256 of the audited data, independent of row order (of the engine's cells for data an engine
        scanned); a baseline with another fingerprint is refused by the gate.
    config : AuditConfig
        The options the audit ran with.
    warnings : tuple of str
        What a reader must know (insufficient groups, one-group attributes, a non-deterministic model).
    errors : tuple of ModuleError
        Optional modules that failed (the rest of the audit completed).

    Examples
    --------
    >>> import audit
    >>> from audit.datasets import load_german
    >>> data = load_german()
    >>> result = audit.run_audit(None, data, label="credit", positive_label="good", protected="sex",
    ...                          predictions="credit", n_bootstrap=0)
    >>> result.groups[["group", "n"]].to_dict("records")
    [{'group': 'all', 'n': 1000}, {'group': 'female', 'n': 310}, {'group': 'male', 'n': 690}]
    >>> text = result.to_json()
    >>> audit.AuditResult.from_json(text) == result
    True
    """

    created: str
    library_version: str
    label: str
    positive_label: Any
    negative_label: Any
    favorable: bool
    protected: tuple[str, ...]
    features: tuple[str, ...]
    n_rows: int
    data_fingerprint: str
    model: ModelInfo
    config: AuditConfig
    metrics_table: Table
    disparities_table: Table
    groups_table: Table
    references: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[ModuleError, ...] = ()
    timings: tuple[tuple[str, float], ...] = ()
    versions: tuple[tuple[str, str], ...] = ()
    format_version: int = FORMAT_VERSION
    sections: tuple[Section, ...] = field(default=())

    def section(self, name: str) -> Section | None:
        """The named section (``"training_data"``, ``"explanations"``, ...), or None when that module did not run."""
        return next((s for s in self.sections if s.name == name), None)

    def _section_frame(self, name: str, table: str) -> "pd.DataFrame":
        """A section's table as a DataFrame; empty, with the module's columns, when the module did not run."""
        sec = self.section(name)
        if sec is None or sec.table(table) is None:
            from . import registry

            return Table(registry.get(name).tables[table]).to_frame()
        return sec.frame(table)

    def _explained(self, table: str) -> "pd.DataFrame":
        return self._section_frame("explanations", table)

    @property
    def shap_importance(self) -> "pd.DataFrame":
        """Mean |SHAP| per original feature, with a bootstrap interval and rank (empty without explain=True)."""
        return self._explained("shap_importance")

    @property
    def shap_by_group(self) -> "pd.DataFrame":
        """Mean signed and absolute SHAP per feature in every group (favourable-outcome orientation)."""
        return self._explained("shap_by_group")

    @property
    def gap_attribution(self) -> "pd.DataFrame":
        """Each group's gap in mean model output to its reference, per feature, with intervals (the features'
        contributions add up to the row whose ``total`` is True, shown as ``(total gap)``); populations: all,
        favourable and unfavourable outcome."""
        return self._explained("gap_attribution")

    @property
    def lime_cases(self) -> "pd.DataFrame":
        """LIME explanations of chosen rows: one row per condition, with the case's stability across seeds."""
        return self._explained("lime_cases")

    @property
    def proxies(self) -> "pd.DataFrame":
        """Per protected attribute and feature: association, the feature's importance rank and a proxy flag."""
        return self._explained("proxies")

    @property
    def mitigation(self) -> "pd.DataFrame":
        """Reweighing's paired before/after re-audit: every metric before, after and the change, with intervals
        (empty without mitigate=True or when no refit was possible; see ``section("mitigation")``)."""
        return self._section_frame("mitigation", "changes")

    @property
    def proxy_auc(self) -> "pd.DataFrame":
        """Per protected attribute: how well the model's features predict it (cross-validated ROC AUC)."""
        return self._explained("proxy_auc")

    # views ---------------------------------------------------------------------------------
    @property
    def metrics(self) -> "pd.DataFrame":
        """Tidy performance metrics: attribute, group, metric, value, ci_low, ci_high, n, status, reason."""
        return self.metrics_table.to_frame()

    @property
    def disparities(self) -> "pd.DataFrame":
        """Tidy disparities: attribute, group, reference, metric, value, ci_low, ci_high, p_value, verdict, ..."""
        return self.disparities_table.to_frame()

    @property
    def groups(self) -> "pd.DataFrame":
        """Group sizes, label counts, favourable-outcome rate, reference flag and data sufficiency."""
        return self.groups_table.to_frame()

    def significant(self) -> list[dict[str, Any]]:
        """Disparities judged significant (group-vs-reference comparisons)."""
        return [r for r in self.disparities_table.records()
                if r["verdict"] == "significant" and r["comparison"] == "vs_reference"]

    def gate(self, policy: Any, baseline: "AuditResult | None" = None, *, allow_different_data: bool = False) -> Any:
        """Judge this result against a policy.

        Parameters
        ----------
        policy : Policy, str, Path or dict
            A :class:`audit.gate.Policy`, a TOML file path, or the policy as a dict.
        baseline : AuditResult, optional
            The previous model's audit of the same data, for ``max_worsening`` rules.
        allow_different_data : bool, default False
            Compare with a baseline audited on different data (refused otherwise).

        Returns
        -------
        GateResult
            Plain data: ``passed``, ``counts()``, and per rule its verdict and checks. Nothing is modified.
        """
        from .gate import Policy, evaluate

        if isinstance(policy, dict):
            policy = Policy.from_dict(policy)
        elif not isinstance(policy, Policy):
            policy = Policy.from_toml(policy)
        return evaluate(self, policy, baseline, allow_different_data=allow_different_data)

    # serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Table):
                out[f.name] = v.to_dict()
            elif isinstance(v, AuditConfig):
                out[f.name] = v.to_dict()
            elif isinstance(v, ModelInfo):
                out[f.name] = {g.name: getattr(v, g.name) for g in fields(v)}
            elif f.name == "errors":
                out[f.name] = [{g.name: getattr(e, g.name) for g in fields(e)} for e in v]
            elif f.name in ("references", "timings", "versions"):
                out[f.name] = [list(pair) for pair in v]
            elif f.name == "sections":
                out[f.name] = {sec.name: sec.to_dict() for sec in v}
            elif isinstance(v, tuple):
                out[f.name] = list(v)
            else:
                out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "result") -> "AuditResult":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"{source}: this is not a fairness-audit result (its 'format' field is missing or "
                             "different).", code="not_a_result")
        version = d.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1 or version > FORMAT_VERSION:
            raise InputError(f"{source}: result format_version {version!r} is not one this library reads (1 to "
                             f"{FORMAT_VERSION}); upgrade fairness-audit if it is newer.", code="result_version")
        _check_result(d, source)
        if version == 1:
            d = _upgrade_v1(d)
        if version <= 2:
            d = _upgrade_v2(d)
        kw: dict[str, Any] = {}
        for f in fields(cls):
            v = d[f.name] if f.name in d else None
            if v is None and f.name in ("references", "warnings", "errors", "timings", "versions"):
                v = []
            if f.name.endswith("_table"):
                v = Table.from_dict(v)
            elif f.name == "config":
                try:
                    v = AuditConfig.from_dict(v)
                except (ConfigError, TypeError) as exc:
                    raise InputError(f"{source}: config: {exc}", code="malformed_result") from None
            elif f.name == "model":
                v = ModelInfo(**v)
            elif f.name == "errors":
                v = tuple(ModuleError(**e) for e in v)
            elif f.name in ("references", "timings", "versions"):
                v = tuple(tuple(pair) for pair in v)
            elif f.name in ("protected", "features", "warnings"):
                v = tuple(v)
            elif f.name == "sections":
                v = tuple(Section.from_dict(name, sec) for name, sec in (v or {}).items())
            elif f.name == "format_version":
                v = FORMAT_VERSION  # converted on load: written back, it is today's format
            kw[f.name] = v
        return cls(**kw)

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int | None = 1) -> str:
        """The versioned JSON text; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)
        # a lone surrogate (possible in a group name) cannot be UTF-8: keep it as a JSON escape, which reads back
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
        if path is not None:
            write_atomic(path, text)
        return text

    @classmethod
    def from_json(cls, path_or_text: str | os.PathLike[str]) -> "AuditResult":
        """Read a result from a JSON file (a path), or from JSON text (a string that is not an existing file's
        name and starts with ``{``). Every field is checked; a problem names the file, the key and what was found."""
        is_text = (isinstance(path_or_text, str) and path_or_text.lstrip().startswith("{")
                   and not _is_file(path_or_text))
        if is_text:
            text, source = str(path_or_text), "result JSON text"
        else:
            source = str(path_or_text)
            try:
                text = Path(path_or_text).read_bytes().decode("utf-8")
            except OSError as exc:
                raise InputError(f"cannot read result file {source!r}: {exc.strerror}.",
                                 code="unreadable_result") from None
            except UnicodeDecodeError as exc:
                raise InputError(f"{source}: not UTF-8 text (byte {exc.start}); is it a fairness-audit result JSON?",
                                 code="malformed_result") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                             code="malformed_result") from None
        except RecursionError:
            raise InputError(f"{source}: the JSON is nested too deeply to be a fairness-audit result.",
                             code="malformed_result") from None
        return cls.from_dict(data, source=source)

    def to_html(self, path: str | os.PathLike[str] | None = None, gate: Any = None) -> str:
        """The self-contained HTML report; written atomically to ``path`` when given."""
        from .report.html import render_html

        text = render_html(self, gate)
        if path is not None:
            write_atomic(path, text)
        return text

    @classmethod
    def from_html(cls, path: str | os.PathLike[str]) -> "AuditResult":
        """Read back the result embedded in an HTML report."""
        from .report.html import result_from_html

        try:
            text = Path(path).read_bytes().decode("utf-8")
        except OSError as exc:
            raise InputError(f"cannot read report {str(path)!r}: {exc.strerror}.", code="unreadable_result") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); is it a fairness-audit report?",
                             code="not_a_report") from None
        try:
            data = result_from_html(text)
        except (json.JSONDecodeError, RecursionError):
            raise InputError(f"{path}: the result embedded in this report is malformed.", code="not_a_report") from None
        return cls.from_dict(data, source=str(path))

    def _repr_html_(self) -> str:
        from .report.notebook import notebook_html

        return notebook_html(self)

    # text -----------------------------------------------------------------------------------
    def summary(self) -> str:
        from .report.text import summary_text

        return summary_text(self)

    def __repr__(self) -> str:
        sig = len(self.significant())
        return (f"<AuditResult {self.n_rows:,} rows, protected={list(self.protected)}, "
                f"{len(self.metrics_table):,} metrics, {len(self.disparities_table):,} disparities, "
                f"{sig} significant>")


def write_atomic(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``: never a partial file."""
    path = Path(path)
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as exc:  # name the file the user asked for, not the temporary one
        raise OSError(exc.errno, f"cannot write {path.name} ({exc.strerror})", str(path)) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"cannot write {path.name} ({exc.strerror})", str(path)) from None
        raise
