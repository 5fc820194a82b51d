"""Build the compressed data sets shipped in ``audit/datasets/data`` from the raw files.

Run from the repository root with the shared data beside it::

    python tools/build_datasets.py ../shared/data

The raw files and their provenance are described in ``audit/datasets/NOTICE.md``.
Output is deterministic (gzip mtime 0), so rebuilding gives byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pandas as pd

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]

# UCI Statlog German credit codes (german.doc); only the categorical attributes are decoded.
GERMAN_CODES = {
    "checking_status": {"A11": "<0 DM", "A12": "0-200 DM", "A13": ">=200 DM", "A14": "no account"},
    "credit_history": {
        "A30": "no credits/all paid", "A31": "all paid at this bank", "A32": "existing paid duly",
        "A33": "delay in past", "A34": "critical account",
    },
    "purpose": {
        "A40": "car (new)", "A41": "car (used)", "A42": "furniture/equipment", "A43": "radio/television",
        "A44": "domestic appliances", "A45": "repairs", "A46": "education", "A47": "vacation",
        "A48": "retraining", "A49": "business", "A410": "others",
    },
    "savings": {"A61": "<100 DM", "A62": "100-500 DM", "A63": "500-1000 DM", "A64": ">=1000 DM", "A65": "unknown/none"},
    "employment_since": {"A71": "unemployed", "A72": "<1 year", "A73": "1-4 years", "A74": "4-7 years", "A75": ">=7 years"},
    "other_debtors": {"A101": "none", "A102": "co-applicant", "A103": "guarantor"},
    "property": {"A121": "real estate", "A122": "savings/insurance", "A123": "car or other", "A124": "unknown/none"},
    "other_installment_plans": {"A141": "bank", "A142": "stores", "A143": "none"},
    "housing": {"A151": "rent", "A152": "own", "A153": "for free"},
    "job": {"A171": "unemployed/unskilled non-resident", "A172": "unskilled resident", "A173": "skilled", "A174": "highly qualified"},
    "telephone": {"A191": "none", "A192": "yes"},
    "foreign_worker": {"A201": "yes", "A202": "no"},
}
GERMAN_COLUMNS = [
    "checking_status", "duration_months", "credit_history", "purpose", "credit_amount", "savings",
    "employment_since", "installment_rate", "personal_status", "other_debtors", "residence_since",
    "property", "age", "other_installment_plans", "housing", "existing_credits", "job",
    "people_liable", "telephone", "foreign_worker", "credit",
]
PERSONAL_STATUS = {  # code -> (sex, marital status)
    "A91": ("male", "divorced/separated"), "A92": ("female", "divorced/separated/married"),
    "A93": ("male", "single"), "A94": ("male", "married/widowed"), "A95": ("female", "single"),
}

COMPAS_COLUMNS = [
    "sex", "age", "age_cat", "race", "juv_fel_count", "juv_misd_count", "juv_other_count",
    "priors_count", "c_charge_degree", "decile_score", "score_text", "two_year_recid",
]


def build_adult(raw: Path) -> pd.DataFrame:
    frames = []
    for name, split, skip in (("adult.data", "train", 0), ("adult.test", "test", 1)):
        df = pd.read_csv(raw / name, header=None, names=ADULT_COLUMNS, skipinitialspace=True,
                         na_values="?", skiprows=skip, dtype={c: str for c in ADULT_COLUMNS if c not in (
                             "age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week")})
        df["income"] = df["income"].str.rstrip(".")
        df["split"] = split
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def build_compas(raw: Path) -> pd.DataFrame:
    df = pd.read_csv(raw / "compas-scores-two-years.csv")
    df = df.loc[:, ~df.columns.duplicated()]
    keep = (
        df["days_b_screening_arrest"].between(-30, 30)
        & (df["is_recid"] != -1)
        & (df["c_charge_degree"] != "O")
        & (df["score_text"] != "N/A")
    )
    return df.loc[keep, COMPAS_COLUMNS].reset_index(drop=True)


def build_german(raw: Path) -> pd.DataFrame:
    df = pd.read_csv(raw / "german.data", sep=" ", header=None, names=GERMAN_COLUMNS, dtype=str)
    for col, codes in GERMAN_CODES.items():
        df[col] = df[col].map(codes)
    status = df.pop("personal_status").map(PERSONAL_STATUS)
    df.insert(8, "sex", status.str[0])
    df.insert(9, "marital_status", status.str[1])
    for col in ("duration_months", "credit_amount", "installment_rate", "residence_since", "age",
                "existing_credits", "people_liable"):
        df[col] = df[col].astype("int64")
    df["credit"] = df["credit"].map({"1": "good", "2": "bad"})
    df.insert(df.columns.get_loc("age") + 1, "age_group",
              pd.cut(df["age"], [0, 24, 200], labels=["<25", ">=25"]).astype(str))
    return df


def write(df: pd.DataFrame, path: Path) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(df.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())
    print(f"{path}: {len(df):,} rows, {path.stat().st_size:,} bytes")


def main(argv: list[str]) -> int:
    raw = Path(argv[1] if len(argv) > 1 else "../shared/data")
    out = Path(__file__).resolve().parent.parent / "audit" / "datasets" / "data"
    out.mkdir(parents=True, exist_ok=True)
    write(build_adult(raw / "adult"), out / "adult.csv.gz")
    write(build_compas(raw / "compas"), out / "compas.csv.gz")
    write(build_german(raw / "german"), out / "german.csv.gz")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
