"""What the data is and which engine scans it.

A pandas DataFrame is audited in memory. A Parquet or CSV path (or glob), a DuckDB relation, a PySpark
DataFrame or a Polars frame is scanned by an engine through narwhals (one set of expressions for all of them);
``engine="auto"`` reads small files into memory (exact everywhere) and scans large ones with DuckDB.
"""

from __future__ import annotations

import glob as _glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError, InputError

ENGINES = ("auto", "pandas", "duckdb", "spark")
#: ``engine="auto"`` audits files of up to this many rows in memory (exact score metrics), larger ones with DuckDB
AUTO_MEMORY_ROWS = 2_000_000
_CSV_BYTES_PER_ROW = 60  # a rough size of a CSV row, to estimate the rows of a CSV file without reading it
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".tsv", ".txt")


@dataclass
class Source:
    """Data an engine scans: the narwhals LazyFrame over it, and how to describe it in the result."""

    kind: str  # "duckdb", "spark" or "polars"
    frame: Any  # narwhals LazyFrame
    native: Any  # the DuckDB relation, Spark DataFrame or Polars LazyFrame
    description: str
    columns: tuple[str, ...]
    owned: list[Any] = field(default_factory=list)  # connections opened here (closed by ``close``)

    def close(self) -> None:
        for con in self.owned:
            try:
                con.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass
        self.owned.clear()


def check_engine(engine: Any) -> str:
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}.",
                          code="invalid_option")
    return engine


def _is_spark(data: Any) -> bool:
    mod = type(data).__module__ or ""
    return mod.startswith("pyspark.sql") and type(data).__name__ == "DataFrame"


def _is_duckdb(data: Any) -> bool:
    return (type(data).__module__ or "").startswith(("duckdb", "_duckdb")) and type(data).__name__ == "DuckDBPyRelation"


def _is_polars(data: Any) -> bool:
    return (type(data).__module__ or "").startswith("polars") and type(data).__name__ in ("DataFrame", "LazyFrame")


def is_engine_data(data: Any) -> bool:
    """True for data only an engine can scan (a path, a DuckDB relation, a Spark or Polars frame)."""
    return isinstance(data, (str, os.PathLike)) or _is_spark(data) or _is_duckdb(data) or _is_polars(data)


def expand_path(path: str | os.PathLike, what: str = "data") -> tuple[list[str], str]:
    """The files a path or glob names, and their format ("parquet" or "csv")."""
    text = os.fspath(path)
    if any(ch in text for ch in "*?[") and not Path(text).exists():  # an existing name is never a pattern
        files = sorted(_glob.glob(text, recursive=True))
        if not files:
            raise InputError(f"{what} glob {text!r} matches no file.", code="missing_file")
    else:
        if Path(text).is_dir():
            files = sorted(str(p) for p in Path(text).rglob("*") if p.is_file() and p.name.lower().endswith(_PARQUET))
            if not files:
                raise InputError(f"{what} directory {text!r} holds no .parquet file.", code="missing_file")
        elif not Path(text).is_file():
            raise InputError(f"{what} file {text!r} does not exist (or is not a file).", code="missing_file")
        else:
            files = [text]
    kinds = {"parquet" if f.lower().endswith(_PARQUET) else "csv" if f.lower().endswith(_CSV) else "?" for f in files}
    if "?" in kinds or len(kinds) != 1:
        odd = next((f for f in files if not f.lower().endswith(_PARQUET + _CSV)), files[0])
        raise InputError(f"{what} path {text!r} names {odd!r}: use .parquet, .csv, .csv.gz or .tsv files, all of one "
                         "format.", code="unknown_format")
    return files, kinds.pop()


def _type_family(t: Any) -> str:
    """A column type's family: files of one table may differ in width (int32 / int64, string / large_string),
    never in family (text in one file and numbers in another)."""
    import pyarrow as pa

    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view",
                                                                         lambda _: False)(t):
        return "text"
    if pa.types.is_dictionary(t):
        return _type_family(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_temporal(t):  # units and time zones differ between writers (us / ns); DuckDB unifies them
        return "date or time"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "bytes"
    return str(t)


def _csv_header(path: str) -> list[str]:
    import csv
    import gzip

    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        return next(csv.reader(fh, delimiter="\t" if path.lower().endswith(".tsv") else ","), [])


def check_files(files: list[str], fmt: str, what: str = "data") -> int:
    """Every file readable and of one schema (the same column names; for Parquet, the same type family per
    column), refused naming the file and the column; returns the Parquet rows (from the footers), or a size-based
    estimate for CSV."""
    first: dict[str, str] | None = None
    rows = 0
    for f in files:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            try:
                meta = pq.ParquetFile(f)
                schema = meta.schema_arrow
            except Exception as exc:  # noqa: BLE001 - pyarrow's ArrowInvalid, OSError, ...
                raise InputError(f"{what} file {f!r} is not a readable Parquet file: {' '.join(str(exc).split())}",
                                 code="unreadable_file") from None
            rows += meta.metadata.num_rows
            cols = {n: _type_family(schema.field(n).type) for n in schema.names}
        else:
            try:
                cols = {n: "" for n in _csv_header(f)}
            except OSError as exc:
                raise InputError(f"cannot read {what} file {f!r}: {exc}", code="unreadable_file") from None
            rows += os.path.getsize(f) // _CSV_BYTES_PER_ROW
        if first is None:
            first, first_file = cols, f
            continue
        if list(cols) != list(first):
            missing = [c for c in first if c not in cols]
            extra = [c for c in cols if c not in first]
            detail = "; ".join(x for x in (f"lacks {missing[:5]}" if missing else "",
                                           f"adds {extra[:5]}" if extra else "") if x) or "orders them differently"
            raise InputError(f"{what} files disagree on their columns: {f!r} {detail} (compared with {first_file!r}). "
                             "Give files of one table.", code="schema_mismatch")
        for c, fam in cols.items():
            if "null" not in (fam, first[c]) and fam != first[c]:
                raise InputError(f"{what} column {c!r} holds {first[c]} in {first_file!r} and {fam} in {f!r}: the "
                                 "files of one table must agree on each column's type. Rewrite the odd file with the "
                                 "same type.", code="schema_mismatch", column=c)
    return rows




def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - a dependency
        raise InputError(f"scanning with DuckDB needs the duckdb package, which fails to import: {exc}",
                         code="missing_dependency") from None
    return duckdb


def spark_session() -> Any:
    """The active Spark session, or a local one (``local[*]``) when there is none. To use a cluster, create
    your session (``SparkSession.builder.remote(...)`` or ``.master(...)``) before auditing."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("engine='spark' needs pyspark: pip install 'fairness-audit[spark]' (and Java 17).",
                         code="missing_dependency") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return (SparkSession.builder.master("local[*]").appName("fairness-audit")
            .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "8").getOrCreate())


def _read_pandas(files: list[str], fmt: str, what: str) -> Any:
    import pandas as pd

    from .._io import load_data

    frames = [load_data(f, what) for f in files]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def open_source(data: Any, engine: str, what: str = "data") -> tuple[Any, Source | None]:
    """``(pandas DataFrame, None)`` for an in-memory audit, or ``(None, Source)`` for an engine scan."""
    import narwhals as nw

    check_engine(engine)
    if isinstance(data, (str, os.PathLike)):
        files, fmt = expand_path(data, what)
        rows = check_files(files, fmt, what)
        if engine == "pandas" or (engine == "auto" and rows <= AUTO_MEMORY_ROWS):
            return _read_pandas(files, fmt, what), None
        desc = f"{fmt} {os.fspath(data)}"
        if engine == "spark":
            spark = spark_session()
            reader = spark.read
            sdf = reader.parquet(*files) if fmt == "parquet" else reader.csv(
                files, header=True, inferSchema=True, sep="\t" if files[0].lower().endswith(".tsv") else ",")
            return None, Source("spark", nw.from_native(sdf), sdf, desc, tuple(sdf.columns))
        duckdb = _duckdb()
        con = duckdb.connect()
        try:
            rel = con.read_parquet(files) if fmt == "parquet" else con.read_csv(
                files, header=True, sep="\t" if files[0].lower().endswith(".tsv") else ",")
        except Exception as exc:
            con.close()
            raise InputError(f"cannot read {what} {os.fspath(data)!r} with DuckDB: {exc}", code="unreadable_file") from None
        return None, Source("duckdb", nw.from_native(rel), rel, desc, tuple(rel.columns), [con])
    if _is_duckdb(data):
        try:
            data.limit(0).fetchall()  # runs nothing but fails at once when its connection is closed
        except Exception as exc:  # noqa: BLE001 - duckdb.ConnectionException: its connection was closed
            raise InputError(f"{what}: the DuckDB relation cannot be read ({' '.join(str(exc).split())}); keep its "
                             "connection open until the audit returns.", code="unreadable_data") from None
        if engine == "pandas":
            return data.df(), None
        if engine == "spark":
            raise ConfigError("engine='spark' cannot scan a DuckDB relation; use engine='duckdb' (or 'auto').",
                              code="invalid_option")
        return None, Source("duckdb", nw.from_native(data), data, "DuckDB relation", tuple(data.columns))
    if _is_spark(data):
        if engine == "pandas":
            return data.toPandas(), None
        if engine == "duckdb":
            raise ConfigError("engine='duckdb' cannot scan a Spark DataFrame; use engine='spark' (or 'auto').",
                              code="invalid_option")
        return None, Source("spark", nw.from_native(data), data, "Spark DataFrame", tuple(data.columns))
    if _is_polars(data):
        lazy = data.lazy()
        if engine == "pandas":
            return lazy.collect().to_pandas(), None
        if engine in ("duckdb", "spark"):
            raise ConfigError(f"engine={engine!r} cannot scan a Polars frame; use engine='auto'.",
                              code="invalid_option")
        return None, Source("polars", nw.from_native(lazy), lazy, "Polars LazyFrame",
                            tuple(lazy.collect_schema().names()))
    import pandas as pd

    if isinstance(data, pd.DataFrame) and engine in ("duckdb", "spark"):
        if data.columns.duplicated().any() or not all(isinstance(c, str) for c in data.columns):
            raise InputError(f"engine={engine!r} needs unique string column names in data.", code="bad_columns")
        if engine == "spark":
            sdf = spark_session().createDataFrame(data)
            return None, Source("spark", nw.from_native(sdf), sdf, "pandas DataFrame on Spark", tuple(sdf.columns))
        duckdb = _duckdb()
        con = duckdb.connect()
        rel = con.from_df(data)
        return None, Source("duckdb", nw.from_native(rel), rel, "pandas DataFrame on DuckDB", tuple(rel.columns), [con])
    return data, None
