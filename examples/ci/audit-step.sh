#!/usr/bin/env bash
# The audit step that both CI examples run. Exit code: 0 gate passed, 1 gate failed, 2 error.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-audit-out}"
mkdir -p "$out"
python "$here/score_model.py" --out "$out/scored.csv" || exit 2
audit run --config "$here/audit.toml" --data "$out/scored.csv" \
  --json "$out/audit.json" --html "$out/audit.html" --junit "$out/junit.xml" --markdown "$out/summary.md"
