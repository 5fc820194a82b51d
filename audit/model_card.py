"""A model card (Mitchell et al., "Model Cards for Model Reporting", 2019; issue 21) from an audit result and a small
TOML file of the prose only the model's owner can write.

The nine sections of the paper: model details, intended use, factors, metrics, evaluation data, training data,
quantitative analyses, ethical considerations, caveats and recommendations. The numbers come from the result (the
audit's groups, metrics by group with intervals, significant disparities, the four-fifths rule, flagged proxies,
warnings): nothing is recomputed and nothing is typed by hand. Prose the owner did not give is shown as not stated,
never invented, and listed in :attr:`ModelCard.missing`.

A last section maps the card to the points of the EU AI Act's Annex IV (technical documentation) that an audit can
evidence: 1(a) in part, 2(d), 2(g), 3 and 4. It states what each point asks, where the card answers, and what is
left to the owner. It does not claim compliance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._toml import read_toml
from .exceptions import ConfigError
from .report.card_view import NOT_STATED

if TYPE_CHECKING:  # pragma: no cover
    from .record.result import ResultData

#: (key, title, prose fields: (key, label, required)) in the paper's order
SECTIONS: tuple[tuple[str, str, tuple[tuple[str, str, bool], ...]], ...] = (
    ("model_details", "Model details", (
        ("name", "Name", True), ("version", "Version", True), ("date", "Date", False),
        ("developers", "Developed by", True), ("type", "Model type", False),
        ("description", "Description", False), ("training_algorithm", "Training algorithm and parameters", False),
        ("license", "License", False), ("contact", "Questions and comments", False),
        ("citation", "Citation", False))),
    ("intended_use", "Intended use", (
        ("primary_uses", "Primary intended uses", True), ("primary_users", "Primary intended users", True),
        ("out_of_scope", "Out-of-scope uses", True))),
    ("factors", "Factors", (
        ("relevant", "Relevant factors", False), ("evaluation", "Evaluation factors", False))),
    ("metrics", "Metrics", (
        ("rationale", "Why these metrics", False), ("thresholds", "Decision thresholds", False),
        ("variation", "Variation approaches", False))),
    ("evaluation_data", "Evaluation data", (
        ("datasets", "Datasets", True), ("motivation", "Motivation", False),
        ("preprocessing", "Preprocessing", False))),
    ("training_data", "Training data", (
        ("description", "Training data", True),)),
    ("quantitative_analyses", "Quantitative analyses", (
        ("notes", "Notes", False),)),
    ("ethical_considerations", "Ethical considerations", (
        ("data", "Data", False), ("human_life", "Human life", False), ("mitigations", "Mitigations", False),
        ("risks", "Risks and harms", False), ("use_cases", "Fraught use cases", False))),
    ("caveats", "Caveats and recommendations", (
        ("text", "Caveats and recommendations", False),)),
)
#: the key metrics of the quantitative analyses, per task: (metric, class column value or None, heading)
KEY_METRICS = {
    "binary": (("selection_rate", None, "selection rate"), ("accuracy", None, "accuracy"),
               ("recall", None, "true positive rate"), ("fpr", None, "false positive rate"),
               ("precision", None, "precision")),
    "regression": (("mean_prediction", None, "mean prediction"), ("mae", None, "MAE"), ("rmse", None, "RMSE"),
                   ("scoring_rate", None, "scoring rate")),
    "multiclass": (("accuracy", "(all classes)", "accuracy"), ("recall", "(macro)", "macro recall"),
                   ("selection_rate", "(favourable)", "favourable-class rate")),
}


@dataclass(frozen=True)
class CardText:
    """The owner's prose (``card.toml``)::

        [model_details]
        name = "Credit line model"
        version = "2.3"
        developers = "Risk analytics"

        [intended_use]
        primary_uses = "Pre-screening of consumer credit applications, with a human decision."
        primary_users = "Credit officers"
        out_of_scope = "Employment or housing decisions; applicants outside the EU."

    Keys outside :data:`SECTIONS` are refused, naming them (a typo would silently drop text)."""

    fields: tuple[tuple[str, str, str], ...] = ()  # (section, key, text)

    def get(self, section: str, key: str) -> str | None:
        for s, k, t in self.fields:
            if s == section and k == key:
                return t
        return None

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "the model card text") -> "CardText":
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected tables of prose fields, found {type(d).__name__}.",
                              code="bad_card")
        known = {key: {f for f, _, _ in fields} for key, _, fields in SECTIONS}
        out = []
        for section, table in d.items():
            if section not in known:
                raise ConfigError(f"{source}: unknown section [{section}]; the sections are "
                                  f"{', '.join(known)}.", code="bad_card")
            if not isinstance(table, dict):
                raise ConfigError(f"{source}: [{section}] must be a table of fields, found {table!r}.",
                                  code="bad_card")
            for key, text in table.items():
                if key not in known[section]:
                    raise ConfigError(f"{source}: [{section}] has no field {key!r}; its fields are "
                                      f"{', '.join(sorted(known[section]))}.", code="bad_card")
                if isinstance(text, list) and all(isinstance(t, str) for t in text):
                    text = "\n".join(f"- {t}" for t in text)
                if not isinstance(text, str):
                    raise ConfigError(f"{source}: [{section}] {key} must be text (or a list of texts), found "
                                      f"{text!r}.", code="bad_card")
                if text.strip():
                    out.append((section, key, text.strip()))
        return cls(tuple(out))

    @classmethod
    def from_toml(cls, path_or_text: str | os.PathLike[str]) -> "CardText":
        data, source, _ = read_toml(path_or_text, "model card text", "bad_card")
        return cls.from_dict(data, source)


@dataclass(frozen=True)
class CardTable:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class CardSection:
    key: str
    title: str
    prose: tuple[tuple[str, str], ...]  # (label, the owner's text or NOT_STATED)
    facts: tuple[tuple[str, str], ...]  # (label, value) from the result
    tables: tuple[CardTable, ...] = ()
    findings: tuple[str, ...] = ()  # sentences from the result


@dataclass(frozen=True)
class ModelCard:
    """The card as plain data: render it with :meth:`to_markdown` or :meth:`to_html` (formatting only)."""

    title: str
    created: str
    tool: str
    sections: tuple[CardSection, ...]
    annex_iv: CardTable
    missing: tuple[str, ...]  # "section.field" of required prose not given

    def to_markdown(self, path: str | os.PathLike[str] | None = None) -> str:
        from .report.card_view import card_markdown

        text = card_markdown(self)
        if path is not None:
            from .record.atomic import write_atomic

            write_atomic(path, text)
        return text

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        from .report.card_view import card_html

        text = card_html(self)
        if path is not None:
            from .record.atomic import write_atomic

            write_atomic(path, text)
        return text


def _ci(r: dict[str, Any]) -> str:
    """A value and its interval as the reports show them ("undefined" without a value)."""
    from .report.format import fmt, interval

    return "undefined" if r.get("value") is None else fmt(r["value"]) + interval(r)


def _group_tables(result: "ResultData") -> list[CardTable]:
    from .report.format import fmt

    keys = KEY_METRICS.get(result.task, ())
    rows_by: dict[tuple[str, str], dict[tuple[str, Any], dict[str, Any]]] = {}
    for r in result.metrics_table.records():
        rows_by.setdefault((r["attribute"], r["group"]), {})[(r["metric"], r.get("class"))] = r
    counts = {(g["attribute"], g["group"]): g for g in result.groups_table.records()}
    attrs = list(dict.fromkeys(g["attribute"] for g in result.groups_table.records()))
    conf = f"{100 * result.config.confidence:g}%"
    tables = []
    for attr in attrs:
        rows = []
        for (a, group), g in counts.items():
            if a != attr:
                continue
            cells = [str(group), fmt(g["n"])]
            found = rows_by.get((a, group), {})
            for metric, cls, _ in keys:
                rec = found.get((metric, cls))
                cells.append(_ci(rec) if rec is not None else "not computed")
            if g.get("status") not in (None, "ok"):
                cells[0] += f" ({g['status']})"
            rows.append(tuple(cells))
        name = "on all rows" if attr == "(overall)" else f"by {attr}"
        tables.append(CardTable(f"Performance {name}: value [{conf} interval]",
                                ("group", "rows") + tuple(h for _, _, h in keys), tuple(rows)))
    return tables


def _disparity_table(result: "ResultData") -> tuple[CardTable | None, list[str]]:
    from .report.findings import four_fifths_below, metric_name, significant_by_p
    from .report.format import fmt, fmt_p, interval

    sig = significant_by_p(result)
    conf = f"{100 * result.config.confidence:g}%"
    findings = []
    below = four_fifths_below(result)
    if below:
        findings.append(f"{len(below)} group(s) below the four-fifths ratio of {result.config.four_fifths:g}: "
                        + "; ".join(f"{r['attribute']} {r['group']} {fmt(r['value'])}" for r in below[:8])
                        + ("; ..." if len(below) > 8 else "") + ".")
    if not sig:
        findings.insert(0, "No disparity is significant at the audit's level after the "
                           f"{result.config.correction} correction.")
        return None, findings
    rows = tuple((str(r["attribute"]), str(r["group"]), str(r["reference"]), metric_name(r), fmt(r["value"]),
                  interval(r).strip() or "not shown",
                  fmt_p(r["p_value"])) for r in sig[:20])
    findings.insert(0, f"{len(sig)} significant disparit{'y' if len(sig) == 1 else 'ies'}"
                       + (" (the 20 smallest p-values shown; all are in the audit's JSON)" if len(sig) > 20 else "")
                       + ". Negative differences and ratios below 1: the group fares worse than its reference.")
    return CardTable(f"Significant disparities ({conf} interval, {result.config.correction}-adjusted p-value)",
                     ("attribute", "group", "reference", "metric", "value", "interval", "p"), rows), findings


def model_card(result: "ResultData", text: "CardText | dict[str, Any] | str | os.PathLike[str] | None" = None
               ) -> ModelCard:
    """The model card of an audit result and the owner's prose (:class:`CardText`, a dict, or a TOML path)."""
    from .report.findings import data_source_sentence, overall_metrics, target_sentence
    from .report.format import fmt
    from .report.html import definitions_for

    if text is None:
        text = CardText()
    elif isinstance(text, dict):
        text = CardText.from_dict(text)
    elif not isinstance(text, CardText):
        text = CardText.from_toml(text)
    missing = []

    def prose(key: str) -> tuple[tuple[str, str], ...]:
        fields = dict((k, (label, req)) for s, _, f in SECTIONS if s == key for k, label, req in f)
        out = []
        for field, (label, required) in fields.items():
            t = text.get(key, field)
            if t is None and required:
                missing.append(f"{key}.{field}")
                out.append((label, NOT_STATED))
            elif t is not None:
                out.append((label, t))
        return tuple(out)

    cfg = result.config
    conf = f"{100 * cfg.confidence:g}%"
    name = text.get("model_details", "name") or "the audited model"
    secs: list[CardSection] = []
    secs.append(CardSection("model_details", "Model details", prose("model_details"), (
        ("Model as audited", result.model.description),
        ("How its output was read", result.model.method + (f" ({result.model.score_kind})"
                                                           if result.model.score_kind else "")),
        ("Model fingerprint", result.model.fingerprint or "not available"),
        ("What it decides", target_sentence(result)),
        ("Audited", f"{result.created} by fairness-audit {result.library_version}"))))
    secs.append(CardSection("intended_use", "Intended use", prose("intended_use"), ()))
    refs = dict(result.references)
    groups = [g for g in result.groups_table.records() if g["attribute"] != "(overall)"]
    attrs = list(dict.fromkeys(g["attribute"] for g in groups))
    factor_rows = tuple((str(a), ", ".join(f"{g['group']} ({fmt(g['n'])})" for g in groups if g["attribute"] == a),
                         str(refs.get(a, "")) or "-") for a in attrs)
    secs.append(CardSection("factors", "Factors", prose("factors"), (
        ("Protected attributes audited", ", ".join(result.protected)),
        ("Intersections", "audited (every combination of the attributes)" if cfg.intersections and
         len(result.protected) > 1 else "not audited" if len(result.protected) > 1 else "one attribute"),
        ("Groups with too few rows for a verdict", f"fewer than {cfg.min_group_size} rows: reported, marked "
                                                    "insufficient, never judged")),
        (CardTable("Groups in the evaluation data (rows) and the reference group each is compared with",
                   ("attribute", "groups (rows)", "reference"), factor_rows),)))
    metric_facts = [("Confidence intervals", f"{conf}, from {cfg.n_bootstrap:,} bootstrap resamples"
                     if cfg.n_bootstrap else f"{conf} analytic intervals where defined (no bootstrap)"),
                    ("Multiple comparisons", f"{cfg.correction} correction across every comparison"),
                    ("Four-fifths rule", f"impact ratios below {cfg.four_fifths:g} are flagged")]
    if result.task == "binary":
        metric_facts.insert(0, ("Decision threshold", f"scores of at least {fmt(cfg.threshold)} are positive"))
    secs.append(CardSection("metrics", "Metrics", prose("metrics"), tuple(metric_facts),
                            (CardTable("Definitions", ("term", "definition"), tuple(definitions_for(result))),)))
    overall = ", ".join(f"{label} {_ci(r)}" for label, r in overall_metrics(result))
    eval_facts = [("Rows", fmt(result.n_rows)), ("Data fingerprint (sha256)", result.data_fingerprint),
                  ("Label", target_sentence(result)), ("Overall", overall or "-")]
    scanned = data_source_sentence(result)
    if scanned:
        eval_facts.append(("Scanned", scanned))
    secs.append(CardSection("evaluation_data", "Evaluation data", prose("evaluation_data"), tuple(eval_facts)))
    train = result.section("training_data")
    train_tables: tuple[CardTable, ...] = ()
    if train is not None and train.table("group_base_rates") is not None:
        rows = tuple((str(r["attribute"]), str(r["group"]), fmt(r["base_rate"]))
                     for r in train.table("group_base_rates").records())
        train_tables = (CardTable("Base rates of the label by group in the training data", ("attribute", "group",
                                                                                             "base rate"), rows),)
        train_facts: tuple[tuple[str, str], ...] = (("Audited", "the training rows' label base rates by group (before "
                                                                 "any model)"),)
    else:
        train_facts = (("Audited", "no: the audit was not given the training rows (train_data=)"),)
    secs.append(CardSection("training_data", "Training data", prose("training_data"), train_facts, train_tables))
    disp, disp_findings = _disparity_table(result)
    qa_tables = tuple(_group_tables(result)) + ((disp,) if disp is not None else ())
    secs.append(CardSection("quantitative_analyses", "Quantitative analyses", prose("quantitative_analyses"), (),
                            qa_tables, tuple(disp_findings)))
    ethical: list[str] = []
    expl = result.section("explanations")
    proxies = expl.table("proxies") if expl is not None else None
    if proxies is not None and len(proxies):
        flagged = [r for r in proxies.records() if str(r.get("flag", "")).startswith("proxy")]
        ethical.append(("The proxy scan flags " + "; ".join(f"{r['feature']} (for {r['attribute']})"
                                                              for r in flagged) + " as proxies: associated with a "
                        "protected attribute and among the model's top features.") if flagged else
                       "The proxy scan flags no feature as a proxy of a protected attribute.")
    elif expl is None:
        ethical.append("Proxies were not scanned (the audit ran without explanations).")
    mitigation = result.section("mitigation")
    if mitigation is not None:
        from .report.findings import mitigation_finding

        finding = mitigation_finding(mitigation, result)
        if finding:
            ethical.append(finding)
    secs.append(CardSection("ethical_considerations", "Ethical considerations", prose("ethical_considerations"), (),
                            (), tuple(ethical)))
    caveats = [f"Warning from the audit: {w}" for w in result.warnings]
    caveats += [f"Part of the audit failed: {e.module}: {e.message}" for e in result.errors]
    caveats.append("Every figure describes the evaluation data above; it holds for other data only as far as "
                   "that data resembles it. Intervals show sampling uncertainty, not the effect of a shift in "
                   "the population.")
    secs.append(CardSection("caveats", "Caveats and recommendations", prose("caveats"), (), (), tuple(caveats)))
    annex = _annex_iv(result, text, train is not None)
    return ModelCard(f"Model card: {name}", result.created, f"fairness-audit {result.library_version}", tuple(secs),
                     annex, tuple(missing))


def _annex_iv(result: "ResultData", text: CardText, trained: bool) -> CardTable:
    """Annex IV points an audit can evidence: (point, what it asks, where the card answers, what is left)."""
    have = {(s, k) for s, k, _ in text.fields}
    owner_1a = all((("model_details", k) in have) for k in ("name", "version", "developers")) and \
        ("intended_use", "primary_uses") in have
    rows = (
        ("1(a)", "The intended purpose, who developed the system, its date and version.",
         "Model details; Intended use.",
         "given by the owner" if owner_1a else "the owner's prose is missing (see the card's 'not stated' fields)"),
        ("2(d)", "Where relevant, datasheets of the training data: provenance, scope, main characteristics, "
                 "labelling and cleaning.",
         "Training data" + (" (label base rates by group, from the training rows)" if trained else "") + ".",
         "partly: provenance, labelling and cleaning are the owner's to describe"),
        ("2(g)", "Validation and testing: the test data and its main characteristics; metrics of accuracy and of "
                 "potentially discriminatory impacts; test logs and reports, dated and signed.",
         "Evaluation data (rows, fingerprint); Metrics; Quantitative analyses (by group, with intervals and "
         "corrected p-values). The audit's JSON and evidence manifest are the dated test log.",
         "the signature of the responsible persons; robustness and cybersecurity are not audited"),
        ("3", "Capabilities and limitations in performance, including the degrees of accuracy for specific persons "
              "or groups of persons and the overall expected accuracy; foreseeable unintended outcomes and risks "
              "of discrimination.",
         "Quantitative analyses (accuracy and error rates by group and intersection); Ethical considerations; "
         "Caveats.",
         "monitoring, human oversight and control after deployment"),
        ("4", "Why the performance metrics are appropriate for this system.",
         "Metrics (definitions, thresholds" + (", the owner's rationale)" if ("metrics", "rationale") in have
                                               else ")") + ".",
         "given by the owner" if ("metrics", "rationale") in have else "the owner's rationale ([metrics] rationale)"),
    )
    return CardTable("EU AI Act, Annex IV (technical documentation): the points this card evidences. A map for "
                     "the reader, not a claim of compliance: most of Annex IV (system design, risk management, "
                     "human oversight, cybersecurity, post-market monitoring) is outside what an audit shows.",
                     ("point", "what it asks (paraphrased)", "where this card answers", "left to the owner"), rows)
