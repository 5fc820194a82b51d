"""Report benchmark: size and render time of the Adult demo report from a finished result.

    python benchmarks/bench_report.py

Targets: under 1.5 MB and rendered in under 1 s.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audit._demo import run_demo  # noqa: E402
from audit.report.html import render_html  # noqa: E402


def main() -> int:
    result = run_demo()
    render_html(result)  # warm-up: template compilation
    times = []
    for _ in range(5):
        t = time.perf_counter()
        html = render_html(result)
        times.append(time.perf_counter() - t)
    size = len(html.encode("utf-8"))
    print(f"Adult demo report: {size / 1e6:.3f} MB (target < 1.5 MB); render {statistics.median(times):.3f} s "
          f"median of 5 (target < 1 s); first render incl. template compile not counted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
