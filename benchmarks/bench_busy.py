"""The demo on a busy machine: quiet, then beside CPU-bound processes (a shared CI runner), in fresh processes.

    python benchmarks/bench_busy.py              # 2 competing processes; about 2-4 minutes
    python benchmarks/bench_busy.py --load 4

Prints the wall time of ``audit demo`` (training the demo model, the audit with explanations and mitigation, the
report) quiet and under load, and their ratio (target: under a load of two CPU-bound processes, < 3x quiet). The
library sizes its own fits and worker threads to the CPUs the process may use (affinity, container quota), so an
oversubscribed runner is not made worse by threads that busy-wait for a CPU.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _burn(stop: float) -> None:
    x = 0
    while time.time() < stop:
        x += 1


def demo_seconds() -> float:
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "audit", "demo", "--out", out], cwd=ROOT, check=True,
                       capture_output=True)
        return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--load", type=int, default=2, help="CPU-bound processes running beside the demo")
    args = ap.parse_args()
    quiet = demo_seconds()
    print(f"audit demo, quiet: {quiet:.1f} s")
    burners = [mp.Process(target=_burn, args=(time.time() + 30 * quiet + 60,), daemon=True) for _ in range(args.load)]
    for p in burners:
        p.start()
    try:
        busy = demo_seconds()
    finally:
        for p in burners:
            p.terminate()
    print(f"audit demo beside {args.load} CPU-bound processes: {busy:.1f} s")
    print(f"ratio busy / quiet: {busy / quiet:.2f}x (target < 3x under a load of 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
