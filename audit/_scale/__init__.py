"""Audits of data that does not fit in memory: the engine (DuckDB, Spark, Polars) reduces the rows to small
tables of counts and score sums, and the in-memory statistics run on those tables.

* ``sources``: what the data is (a path or glob, a DuckDB relation, a Spark or Polars frame) and which engine
  scans it.
* ``scan``: the two scans: a check of the key columns, then one grouped scan (pushed down as narwhals
  expressions, or the model applied batch by batch) giving the cells.
* ``tables``: the audit context from the cells (counts exact; ROC AUC and average precision from score buckets,
  with a stated bound on their error).
* ``sample``: seeded stratified samples pulled from the engine for explanations, and reweighing weights from
  the engine's group x label counts.
"""
