"""Frozen audit results: :class:`AuditResult`, rendered, gated and stored as versioned JSON.

An :class:`AuditResult` is plain data: tables of tuples, never mutated after it is built. The
DataFrame views (``metrics``, ``disparities``, ``groups``) are fresh copies on every access.
JSON never holds NaN or Infinity: an undefined value is ``null`` with a status and a reason.

The data lives in ``audit/record/`` (tables and sections, the JSON codec and its format migrations, atomic
writes); this facade adds what a user does with a result: render, gate, read and write.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .exceptions import InputError
from .gate import Policy, evaluate
from .record import codec
from .record.atomic import write_atomic
from .record.codec import FORMAT, FORMAT_VERSION
from .record.result import ResultData
from .record.tables import (DISPARITY_COLUMNS, GROUP_COLUMNS, METRIC_COLUMNS, ModelInfo, ModuleError, Section,
                            Table)
from .report.findings import mitigation_finding
from .report.html import render_html, result_from_html
from .report.notebook import Chart, chart, notebook_html
from .report.text import summary_text

__all__ = ["AuditResult", "DISPARITY_COLUMNS", "FORMAT", "FORMAT_VERSION", "GROUP_COLUMNS", "METRIC_COLUMNS",
           "ModelInfo", "ModuleError", "Section", "Table", "write_atomic"]


class AuditResult(ResultData):
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
        if isinstance(policy, dict):
            policy = Policy.from_dict(policy)
        elif not isinstance(policy, Policy):
            policy = Policy.from_toml(policy)
        return evaluate(self, policy, baseline, allow_different_data=allow_different_data)

    @property
    def mitigation_finding(self) -> str | None:
        """What reweighing did, in one paragraph (the report's headline on mitigation): the largest significant
        demographic-parity gap between groups with sufficient data before and after, the accuracy cost, and every
        side effect; None without a reweighed refit."""
        sec = self.section("mitigation")
        return None if sec is None else mitigation_finding(sec, self)

    # files -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "result") -> "AuditResult":
        """A result from its JSON dict; every field is checked and older formats are converted."""
        return codec.decode(cls, d, source)

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int | None = 1) -> str:
        """The versioned JSON text; written atomically to ``path`` when given."""
        text = codec.dumps(self.to_dict(), indent)
        if path is not None:
            write_atomic(path, text)
        return text

    @classmethod
    def from_json(cls, path_or_text: str | os.PathLike[str]) -> "AuditResult":
        """Read a result from a JSON file (a path), or from JSON text (a string that is not an existing file's
        name and starts with ``{``). Every field is checked; a problem names the file, the key and what was found."""
        data, source = codec.load_json(path_or_text)
        return cls.from_dict(data, source=source)

    def to_html(self, path: str | os.PathLike[str] | None = None, gate: Any = None) -> str:
        """The self-contained HTML report; written atomically to ``path`` when given."""
        text = render_html(self, gate)
        if path is not None:
            write_atomic(path, text)
        return text

    @classmethod
    def from_html(cls, path: str | os.PathLike[str]) -> "AuditResult":
        """Read back the result embedded in an HTML report."""
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
        return notebook_html(self)

    def chart(self, kind: str = "metric", name: str | None = None, *, attribute: str | None = None,
              group: str | None = None, cls: str | None = None) -> Chart:
        """One of the report's charts, for a notebook (Jupyter shows it; ``.html`` is the SVG with its styles).

        Parameters
        ----------
        kind : {"metric", "disparity", "gap", "mitigation"}
            A performance metric by group, a disparity against the reference, a gap attribution (needs
            ``explain=True``), or a disparity before and after reweighing (needs ``mitigate=True``).
        name : str, optional
            The metric or disparity (default: accuracy; demographic parity difference. A regression model: MAE;
            mean prediction difference. A multiclass model: accuracy; each group's worst class).
        attribute, group : str, optional
            The protected attribute (default: the first), and for ``"gap"`` the group (default: the first).
        cls : str, optional
            A multiclass model's class of the rows drawn (default: all classes, the macro average, or the
            favourable view, whichever the metric has).

        Examples
        --------
        >>> import audit
        >>> from audit.datasets import load_compas
        >>> data = load_compas()
        >>> result = audit.run_audit(None, data, label="two_year_recid", positive_label=1, favorable=False,
        ...                          protected=["race"], predictions="two_year_recid", n_bootstrap=0)
        >>> result.chart("metric", "selection_rate", attribute="race")
        <Chart 'selection rate by race': 6 rows>
        """
        return chart(self, kind, name, attribute, group, cls)

    def ll144_tables(self, mapping: Any) -> dict[str, Any]:
        """NYC Local Law 144 bias-audit tables (``sex``, ``race_ethnicity``, ``intersectional``: applicants,
        selection or scoring rate, impact ratio, the 2% rule, and additional intervals and p-values) and the facts
        the page states (``facts``), from this result and a mapping of its columns to the law's categories
        (:class:`audit.ll144.LL144Map`, a TOML path or text, or a dict). Not legal advice.

        Examples
        --------
        >>> import audit
        >>> from audit.datasets import load_adult
        >>> data = load_adult("test")
        >>> result = audit.run_audit(None, data, label="income", positive_label=">50K", protected=["sex"],
        ...                          predictions="income", n_bootstrap=0)
        >>> tables = result.ll144_tables({"sex": {"column": "sex", "values": {"Male": "Male",
        ...                                                                    "Female": "Female"}}})
        >>> tables["sex"][["category", "applicants", "impact_ratio"]].round(3).values.tolist()
        [['Male', 10860, 1.0], ['Female', 5421, 0.363]]
        """
        from .ll144 import LL144Map, ll144_tables

        if isinstance(mapping, dict):
            mapping = LL144Map.from_dict(mapping)
        elif not isinstance(mapping, LL144Map):
            mapping = LL144Map.from_toml(mapping)
        return ll144_tables(self, mapping)

    def model_card(self, text: Any = None) -> Any:
        """A model card (:class:`audit.model_card.ModelCard`: Mitchell et al.'s nine sections and a map to the EU
        AI Act's Annex IV points it evidences) from this result and the owner's prose (``text``:
        :class:`audit.model_card.CardText`, a dict, or a TOML path; required prose not given is shown as not
        stated and listed in ``missing``). Render it with ``to_markdown()`` or ``to_html()``."""
        from .model_card import model_card

        return model_card(self, text)

    def reason_codes(self, model: Any, data: Any, *, k: int = 4, reasons: Any = None, exclude: Any = (),
                     id_column: str | None = None, progress: bool = False) -> Any:
        """Principal reasons for adverse decisions (:class:`audit.reasons.ReasonCodes`): for every row of ``data``
        that ``model`` gives the unfavourable outcome, the ``k`` features that pushed it there most (exact SHAP of
        the model's margin for tree and linear models), never a protected attribute of this audit nor a feature
        its proxy scan flagged (with ``explain=True``; otherwise the same association measure on ``data``).
        The label's meaning, the threshold, the features and the seed are this audit's. ``reasons``: reason text
        per feature (:class:`audit.reasons.ReasonMap`, a dict or a TOML path). Not legal advice.

        Examples
        --------
        >>> import audit
        >>> from sklearn.ensemble import GradientBoostingClassifier
        >>> from audit.datasets import load_german
        >>> data = load_german()
        >>> X = data[["duration_months", "credit_amount", "age"]]
        >>> model = GradientBoostingClassifier(random_state=0).fit(X, data["credit"])
        >>> result = audit.run_audit(model, data, label="credit", positive_label="good", protected="sex",
        ...                          features=list(X.columns), n_bootstrap=0)
        >>> codes = result.reason_codes(model, data, k=2)
        >>> codes.n_adverse > 0 and "sex" not in set(codes.to_frame()["feature"])
        True
        """
        from .reasons import proxies_from_result, reason_codes

        if self.task != "binary":
            raise InputError(f"reason codes explain a binary decision; this is a {self.task} audit. Audit the "
                             "decision the notice is about (e.g. approve / decline) as a binary model.",
                             code="reasons_binary_only")
        sec = self.section("explanations")
        table = sec.table("proxies") if sec is not None else None
        return reason_codes(model, data, protected=list(self.protected), positive_label=self.positive_label,
                            favorable=self.favorable, features=list(self.features), threshold=self.config.threshold,
                            negative_label=self.negative_label,
                            k=k, reasons=reasons, exclude=exclude, id_column=id_column, seed=self.config.seed,
                            progress=progress,
                            proxies=None if table is None or not len(table) else proxies_from_result(table))

    # text -----------------------------------------------------------------------------------
    def summary(self) -> str:
        """The plain-text summary (the command line prints it)."""
        return summary_text(self)
