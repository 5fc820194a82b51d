"""The library's own model fits and worker threads are sized to the CPUs the process may really use (affinity and
container quota), and restore what they changed; the user's model keeps its settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from audit import _parallel
from audit._parallel import _cgroup_quota, usable_cpus


def _files(tmp_path, v2=None, v1=None, period="100000"):
    a, b = tmp_path / "cpu.max", tmp_path / "cpu" / "cpu.cfs_quota_us"
    b.parent.mkdir(parents=True)
    if v2 is not None:
        a.write_text(v2)
    if v1 is not None:
        b.write_text(v1)
        (b.parent / "cpu.cfs_period_us").write_text(period)
    return a, b


def test_a_container_quota_caps_the_cpus(tmp_path):
    assert _cgroup_quota(_files(tmp_path / "a", v2="150000 100000\n")) == 1.5
    assert usable_cpus(_files(tmp_path / "b", v2="150000 100000\n")) == 1
    assert _cgroup_quota(_files(tmp_path / "c", v2="max 100000\n")) is None
    assert _cgroup_quota(_files(tmp_path / "d", v1="50000")) == 0.5
    assert usable_cpus(_files(tmp_path / "d2", v1="50000")) == 1  # at least one
    assert _cgroup_quota(_files(tmp_path / "e", v1="-1")) is None
    assert _cgroup_quota(_files(tmp_path / "f")) is None  # no cgroup files: no quota
    assert usable_cpus(_files(tmp_path / "g")) == len(os.sched_getaffinity(0))


def _openmp_threads() -> int | None:
    from threadpoolctl import threadpool_info

    found = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"]
    return found[0] if found else None


def test_the_proxy_scan_fits_with_the_usable_cpus_and_restores_them(monkeypatch):
    from sklearn.ensemble import HistGradientBoostingClassifier

    from audit.explain._proxy import proxy_auc

    if (_openmp_threads() or 1) < 2:
        pytest.skip("needs an OpenMP runtime with two threads or more to show the limit")
    before = _openmp_threads()
    seen = []
    real_fit = HistGradientBoostingClassifier.fit

    def recording_fit(self, X, y, **kw):
        seen.append(_openmp_threads())
        return real_fit(self, X, y, **kw)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", recording_fit)
    monkeypatch.setattr(_parallel, "usable_cpus", lambda files=None: 1)  # as a container with a quota of one CPU
    monkeypatch.setattr(_parallel, "SMALL_FIT_ROWS", 0)  # so that the quota, not the size, decides
    rng = np.random.default_rng(0)
    g = rng.integers(0, 2, 600)
    X = pd.DataFrame({"a": g + rng.normal(0, 1, 600), "b": rng.normal(0, 1, 600)})
    result = proxy_auc(X, g, seed=0, n_boot=50)
    assert result.auc is not None and result.auc > 0.6
    assert seen == [1, 1, 1]  # three folds, each fitted on one thread
    assert _openmp_threads() == before  # restored


def test_the_refit_caps_its_clones_threads_and_leaves_the_users_model(monkeypatch):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from audit.mitigation import refit_with_weights

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (X["a"] > 0).astype(int)
    model = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, n_jobs=-1, random_state=0))
    model.fit(X, y)
    monkeypatch.setattr(_parallel, "usable_cpus", lambda files=None: 1)
    refit, why = refit_with_weights(model, X, y, np.ones(len(y)))
    assert why == "" and refit.get_params()["randomforestclassifier__n_jobs"] == 1
    assert model.get_params()["randomforestclassifier__n_jobs"] == -1  # the user's model keeps its settings


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs CPU affinity and two CPUs")
def test_under_an_affinity_of_one_cpu_the_audit_uses_one_thread():
    code = textwrap.dedent("""
        import os, threading
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        import numpy as np, pandas as pd
        import audit
        from audit._parallel import usable_cpus
        rng = np.random.default_rng(0)
        n = 50_000
        df = pd.DataFrame({"g": rng.choice(list("abcd"), n), "y": rng.integers(0, 2, n), "s": rng.random(n)})
        audit.run_audit(None, df, label="y", positive_label=1, protected="g", scores="s", n_bootstrap=200)
        workers = [t.name for t in threading.enumerate() if t.name.startswith("fairness-audit")]
        print(usable_cpus(), len(workers))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "0"]  # one usable CPU: the work runs inline, no worker thread is started


def test_small_fits_and_a_busy_machine_use_one_thread(monkeypatch):
    """Measured: a 4,000-row proxy-scan fit takes as long on one thread as on two when the machine is quiet, and
    three times longer on two beside two CPU-bound processes (the threads spin waiting for one another)."""
    from audit._parallel import SMALL_FIT_ROWS, fit_thread_count

    monkeypatch.setattr(_parallel, "usable_cpus", lambda files=None: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert fit_thread_count(SMALL_FIT_ROWS - 1) == 1
    assert fit_thread_count(SMALL_FIT_ROWS) == 4 and fit_thread_count(None) == 4
    monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 6.0, 6.0))  # a busy runner
    assert fit_thread_count(10 * SMALL_FIT_ROWS) == 1


def test_the_fingerprint_never_pickles_a_model_another_thread_is_using():
    """Pickling a fitted pipeline while another thread predicts with it crashed the process (segmentation fault)
    with scikit-learn 1.4 / numpy 1.24: the fingerprint now waits for every prediction and explanation of that
    model, and they wait for it; predictions still run side by side, and other models are not held up."""
    import threading
    import time

    from audit._model import call_model, model_fingerprint, model_guard

    model = SlowModel()
    X = pd.DataFrame({"a": [1, 2]})
    threads = [threading.Thread(target=call_model, args=("predict", model.predict, X)) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    fingerprint = model_fingerprint(model)  # must wait for both predictions
    for t in threads:
        t.join()
    assert fingerprint is not None and model.most == 2  # the two predictions overlapped
    assert model.events == ["in", "in", "out", "out", "pickle"]  # pickled only once both were done
    # an explanation holds the model the same way; another model's guard is independent
    other = SlowModel()
    with model_guard(model).shared():
        done = threading.Event()
        threading.Thread(target=lambda: (model_fingerprint(other), done.set())).start()
        assert done.wait(5)


class SlowModel:
    """Predicts slowly and records when it predicts and when it is pickled."""

    def __init__(self):
        self.inside = 0
        self.most = 0
        self.events = []

    def predict(self, X):
        self.inside += 1
        self.most = max(self.most, self.inside)
        self.events.append("in")
        time.sleep(0.2)
        self.events.append("out")
        self.inside -= 1
        return [0] * len(X)

    def __reduce__(self):  # pickled for the fingerprint: record when
        self.events.append("pickle")
        return (SlowModel, ())
