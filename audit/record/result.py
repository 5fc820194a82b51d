"""The result's data: every field of an audit's outcome, frozen, with its DataFrame views (fresh copies on every
access). Rendering, gating and files are the :class:`audit.AuditResult` facade's (``audit/results.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import AuditConfig
from . import codec
from .codec import FORMAT_VERSION
from .tables import ModelInfo, ModuleError, Section, Table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass(frozen=True)
class ResultData:
    """The fields of an audit result and their views (see :class:`audit.AuditResult`)."""

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
    #: what was audited: "binary" (a yes/no decision), "multiclass" or "regression"
    task: str = "binary"
    #: a non-binary task's settings as (name, value) pairs: classes, favorable_classes (multiclass); favorable
    #: direction and scoring_cut (regression)
    target: tuple[tuple[str, Any], ...] = ()

    def target_info(self, key: str, default: Any = None) -> Any:
        return dict(self.target).get(key, default)

    def section(self, name: str) -> Section | None:
        """The named section (``"training_data"``, ``"explanations"``, ...), or None when that module did not run."""
        return next((s for s in self.sections if s.name == name), None)

    def _section_frame(self, name: str, table: str) -> "pd.DataFrame":
        """A section's table as a DataFrame; empty, with the module's columns, when the module did not run."""
        sec = self.section(name)
        if sec is None or sec.table(table) is None:
            from .. import registry

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

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON values (the versioned format ``to_json`` writes)."""
        return codec.encode(self)

    def __repr__(self) -> str:
        sig = len(self.significant())
        return (f"<AuditResult {self.n_rows:,} rows, protected={list(self.protected)}, "
                f"{len(self.metrics_table):,} metrics, {len(self.disparities_table):,} disparities, "
                f"{sig} significant>")