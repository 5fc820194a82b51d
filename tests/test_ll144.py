"""Issue 21, first part: NYC Local Law 144 bias-audit tables from a result and a mapping of its columns to the
law's categories, checked against counts computed by hand (the 2% rule, unknown categories, the most selected
category's ratio of exactly 1), for a selecting tool and a scoring (regression) tool; bad mappings refused naming the
value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError
from audit.ll144 import LL144Map


def _applicants() -> pd.DataFrame:
    """Known counts: sex x race cells with a chosen number of applicants and of selected ones."""
    cells = [  # (gender, race, applicants, selected)
        ("M", "W", 400, 200), ("F", "W", 380, 152), ("M", "B", 150, 45), ("F", "B", 140, 42),
        ("M", "A", 60, 33), ("F", "A", 50, 20), ("M", "N", 8, 2), ("F", "N", 7, 1),  # N: 15 of 1,225 rows, 1.2%
        ("X", "W", 20, 9), ("M", "?", 10, 5),  # X and ?: unknown
    ]
    rows = []
    for g, r, n, s in cells:
        rows += [{"gender": g, "race": r, "hired": int(k < s)} for k in range(n)]
    return pd.DataFrame(rows)


MAP = '''
[sex]
column = "gender"
values = { M = "Male", F = "Female" }
unknown = ["X"]

[race_ethnicity]
column = "race"
values = { W = "White", B = "Black or African American", A = "Asian", N = "Native American or Alaska Native" }
unknown = ["?"]

[audit]
data_source = "hand-made fixture"
data_start = "2025-01-01"
data_end = "2025-12-31"
'''


@pytest.fixture(scope="module")
def tables():
    df = _applicants()
    result = audit.run_audit(None, df, label="hired", protected=["gender", "race"], predictions="hired",
                             n_bootstrap=0)
    return result.ll144_tables(MAP)


def test_sex_and_race_tables_equal_hand_computed_counts(tables):
    sex = tables["sex"].set_index("category")
    # Male: 400 + 150 + 60 + 8 + 10 (race unknown, sex known) = 628 applicants, 200 + 45 + 33 + 2 + 5 = 285 selected
    assert sex.loc["Male", "applicants"] == 628 and sex.loc["Male", "selected"] == 285
    assert sex.loc["Female", "applicants"] == 577 and sex.loc["Female", "selected"] == 215
    assert sex.loc["Male", "impact_ratio"] == 1.0  # the most selected category: exactly 1
    assert sex.loc["Female", "impact_ratio"] == pytest.approx((215 / 577) / (285 / 628), abs=1e-12)
    race = tables["race_ethnicity"].set_index("category")
    assert race.loc["White", "applicants"] == 800 and race.loc["White", "selected"] == 361
    assert race.loc["Asian", "rate"] == pytest.approx(53 / 110) and race.loc["Asian", "impact_ratio"] == 1.0
    assert race.loc["White", "impact_ratio"] == pytest.approx((361 / 800) / (53 / 110), abs=1e-12)
    native = race.loc["Native American or Alaska Native"]
    assert native["applicants"] == 15 and not native["in_impact_ratios"] and pd.isna(native["impact_ratio"])
    assert "under 2%" in native["note"] and native["rate"] == pytest.approx(3 / 15)
    hispanic = race.loc["Hispanic or Latino"]
    assert hispanic["applicants"] == 0 and "no applicants" in hispanic["note"]
    facts = tables["facts"]
    assert facts["unknown"] == {"sex": 20, "race_ethnicity": 10, "intersectional": 30}
    assert facts["rows"] == 1225 and facts["data_source"] == "hand-made fixture" and facts["rate"] == "selection rate"
    # the additional figures: a score interval around each ratio and a test against the most selected
    female = sex.loc["Female"]
    assert female["additional_ratio_low"] < female["impact_ratio"] < female["additional_ratio_high"]
    assert 0 <= female["additional_p_value"] <= 1


def test_the_intersectional_table(tables):
    x = tables["intersectional"].set_index("category")
    assert x.loc["White Male", "applicants"] == 400 and x.loc["Asian Male", "selected"] == 33
    best = x[x["in_impact_ratios"]]["rate"].idxmax()
    assert best == "Asian Male" and x.loc[best, "impact_ratio"] == 1.0
    assert x.loc["White Female", "impact_ratio"] == pytest.approx((152 / 380) / (33 / 60), abs=1e-12)
    assert not x.loc["Native American or Alaska Native Female", "in_impact_ratios"]
    assert list(x.index[:2]) == ["Hispanic or Latino Male", "Hispanic or Latino Female"]  # the law's order


def test_a_scoring_tool_uses_the_scoring_rate():
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame({"gender": rng.choice(["M", "F"], n), "y": rng.normal(50, 10, n)})
    df["score"] = df["y"] + np.where(df["gender"] == "F", -3.0, 0.0) + rng.normal(0, 5, n)
    result = audit.run_audit(None, df, label="y", protected=["gender"], predictions="score", task="regression",
                             n_bootstrap=0)
    t = result.ll144_tables({"sex": {"column": "gender", "values": {"M": "Male", "F": "Female"}}})
    sex = t["sex"].set_index("category")
    cut = float(np.median(df["score"]))
    for code, cat in (("M", "Male"), ("F", "Female")):
        rows = df[df["gender"] == code]
        assert sex.loc[cat, "applicants"] == len(rows)
        assert sex.loc[cat, "selected"] == int((rows["score"] > cut).sum())
    assert t["facts"]["rate"] == "scoring rate" and sex.loc["Male", "impact_ratio"] == 1.0


@pytest.mark.parametrize("text, match", [
    ('[sex]\ncolumn = "gender"\nvalues = { M = "Male" }\n', "holds 'F', which is neither mapped"),
    ('[sex]\ncolumn = "gender"\nvalues = { M = "Male", F = "Woman" }\n', "'Woman', not one of the law's"),
    ('[sex]\ncolumn = "sexe"\nvalues = { M = "Male", F = "Female" }\n', "'sexe' is not a protected attribute"),
    ('[gender]\ncolumn = "gender"\n', "unknown table \\[gender\\]"),
    ('[sex]\ncolumn = "gender"\nvalues = { M = "Male", F = "Female" }\nunknown = ["M"]\n', "both mapped and unknown"),
])
def test_bad_mappings_are_refused_naming_the_value(text, match):
    df = _applicants()
    result = audit.run_audit(None, df, label="hired", protected=["gender", "race"], predictions="hired",
                             n_bootstrap=0)
    with pytest.raises(ConfigError, match=match):
        result.ll144_tables(text)
    assert isinstance(LL144Map.from_toml(MAP), LL144Map)


def test_the_page_from_the_command_line(tmp_path):
    from audit import cli as cli_mod

    df = _applicants()
    df.loc[df.index[:3], "race"] = "<script>alert(1)</script>"  # a hostile value, mapped as unknown below
    result = audit.run_audit(None, df, label="hired", protected=["gender", "race"], predictions="hired",
                             n_bootstrap=0)
    path = tmp_path / "r.json"
    result.to_json(path)
    mapping = tmp_path / "ll144.toml"
    mapping.write_text(MAP.replace('unknown = ["?"]', 'unknown = ["?", "<script>alert(1)</script>"]')
                       .replace("hand-made fixture", "<b>ATS</b> export"))
    out = tmp_path / "ll144.html"
    assert cli_mod.main(["report", str(path), "--format", "ll144", "--ll144-map", str(mapping), "--html",
                         str(out)]) == 0
    page = out.read_text()
    assert "Impact ratio" in page and "Native American or Alaska Native" in page and "under 2%" in page
    assert "Additional" in page and "not legal advice" in page and "2025-01-01" in page
    assert "<b>ATS</b>" not in page and "&lt;b&gt;ATS&lt;/b&gt;" in page and "<script>" not in page
    assert "@media print" in page and "thead { display: table-header-group; }" in page
    assert cli_mod.main(["report", str(path), "--format", "ll144", "--html", str(out)]) == 2  # no mapping
    bad = tmp_path / "bad.toml"
    bad.write_text('[sex]\ncolumn = "gender"\nvalues = { M = "Male" }\n')
    assert cli_mod.main(["report", str(path), "--format", "ll144", "--ll144-map", str(bad), "--html",
                         str(tmp_path / "no.html")]) == 2
    assert not (tmp_path / "no.html").exists()  # nothing half-written
