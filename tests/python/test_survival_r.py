#!/usr/bin/python3
"""Kaplan-Meier, medians, Cox (Efron ties) and log-rank of trial/survival.hpp against R's survival
package (Debian r-cran-survival) on fixed small data sets.

tests/tools/survival_probe (built with the tests) prints what the C++ code computes;
tests/data/survival/survival_reference.R prints what R computes with its defaults (survfit
conf.type="log", quantile.survfit, coxph ties="efron", survdiff rho=0). Every number must agree to
TOL = 1e-6 absolute: both sides are double precision on the same closed forms, except coxph's
Newton-Raphson, which stops at a relative log-likelihood change of 1e-9; at that point beta is
within ~1e-8 of the optimum on these data, far inside 1e-6. NA (undefined: S = 0, or a median the
curve never reaches) must be NA on both sides.

The data sets are chosen to reach each branch: tied events, events and censorings at the same
time, a curve that reaches 0 (no interval), a curve equal to 0.5 over an interval (median at the
midpoint), a curve that ends at exactly 0.5 (median halfway to the last observation), a median
that is never reached, and ties across groups.
"""
import math
import os
import shutil
import subprocess
import tempfile
import unittest

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("KETASIM_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
PROBE = os.path.join(BUILD_DIR, "tests", "survival_probe")
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(BUILD_DIR, "ketasim")
REFERENCE_R = os.path.join(SOURCE_DIR, "tests", "data", "survival", "survival_reference.R")
TOL = 1e-6

# (time, event, group)
DATA_SETS = {
    # AML maintenance trial (Miller 1981), as in R's survival::aml: ties, censoring at an event
    # time (13), a curve that reaches 0 (group 1).
    "aml": [(9, 1, 0), (13, 1, 0), (13, 0, 0), (18, 1, 0), (23, 1, 0), (28, 0, 0), (31, 1, 0), (34, 1, 0),
            (45, 0, 0), (48, 1, 0), (161, 0, 0),
            (5, 1, 1), (5, 1, 1), (8, 1, 1), (8, 1, 1), (12, 1, 1), (16, 0, 1), (23, 1, 1), (27, 1, 1),
            (30, 1, 1), (33, 1, 1), (43, 1, 1), (45, 1, 1)],
    # Visit-like times (weekly): S = 0.5 over [14, 21) in group 0; many ties across groups.
    "weekly": [(7, 1, 0), (14, 1, 0), (21, 1, 0), (28, 0, 0),
               (7, 1, 1), (7, 1, 1), (14, 0, 1), (14, 1, 1), (21, 1, 1), (28, 0, 1), (28, 0, 1), (28, 1, 1),
               (35, 0, 1), (35, 0, 1)],
    # Group 0 ends at exactly 0.5 (median halfway to the last observation); group 1's median is
    # never reached.
    "ends_at_half": [(7, 1, 0), (14, 0, 0),
                     (3, 1, 1), (5, 0, 1), (9, 0, 1), (12, 0, 1), (12, 1, 1), (20, 0, 1), (20, 0, 1), (20, 0, 1)],
}


def run_r(data):
    """R's output for a list of (time, event, group) rows, parsed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.txt")
        with open(path, "w") as f:
            f.write("".join(f"{t!r} {e} {g}\n" for t, e, g in data))
        r = subprocess.run(["Rscript", REFERENCE_R, path], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    return parse(r.stdout)


def parse(text):
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if parts:
            rows.append((parts[0], [None if p == "NA" else float(p) for p in parts[1:]]))
    return rows


class SurvivalAgainstR(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(PROBE):
            raise AssertionError(f"{PROBE} is missing: build the tests first")
        if shutil.which("Rscript") is None:
            raise AssertionError("Rscript is missing: tools/setup.sh installs r-base-core and r-cran-survival")

    def compare(self, name, data):
        text = "".join(f"{t} {e} {g}\n" for t, e, g in data)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "data.txt")
            with open(path, "w") as f:
                f.write(text)
            ours = subprocess.run([PROBE], input=text, capture_output=True, text=True, check=True).stdout
            r = subprocess.run(["Rscript", REFERENCE_R, path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
        ours, theirs = parse(ours), parse(r.stdout)
        self.assertEqual([k for k, _ in ours], [k for k, _ in theirs], f"{name}: different rows\nours:\n{ours}\nR:\n{theirs}")
        for i, ((kind, a), (_, b)) in enumerate(zip(ours, theirs)):
            self.assertEqual(len(a), len(b), f"{name} row {i} ({kind})")
            for j, (x, y) in enumerate(zip(a, b)):
                where = f"{name} row {i} ({kind}) column {j}: ours {x}, R {y}"
                if y is None or x is None:
                    self.assertTrue(x is None and y is None, where)
                else:
                    self.assertLessEqual(abs(x - y), TOL, where)
        return ours

    def test_aml(self):
        rows = self.compare("aml", DATA_SETS["aml"])
        # The reference must actually exercise the branches it is there for.
        self.assertTrue(any(k == "km" and v[6] is None for k, v in rows), "no curve reached 0")

    def test_weekly_ties_and_flat_half(self):
        rows = self.compare("weekly", DATA_SETS["weekly"])
        self.assertIn(("median", [0.0, 17.5] + rows[[k for k, _ in rows].index("median")][1][2:]), rows)

    def test_curve_ending_at_half_and_unreached_median(self):
        rows = self.compare("ends_at_half", DATA_SETS["ends_at_half"])
        medians = [v for k, v in rows if k == "median"]
        self.assertEqual(medians[0][1], 10.5)
        self.assertIsNone(medians[1][1])


class ResultsFileAgainstR(unittest.TestCase):
    """A real run (configs/time-to-event.yaml): R's survival on the file's per-patient event times
    (event_time_d, event_observed) reproduces the file's Kaplan-Meier tables, medians, hazard ratio
    and log-rank p, for every endpoint. This checks the engine's accumulation of counts across
    batches and the file layout, not only the statistics."""

    @classmethod
    def setUpClass(cls):
        import h5py
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_survival_")
        path = os.path.join(cls.tmp, "tte.h5")
        subprocess.run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "time-to-event.yaml"), "--patients",
                        "300", "--set", "outputs.batch_patients=64", "-o", path, "--quiet"], check=True,
                       capture_output=True)  # 5 batches: counts accumulate across them
        with h5py.File(path, "r") as f:
            cls.f = {name: f[name][...] for name in f}
            cls.endpoints = [e.decode() if isinstance(e, bytes) else e for e in f["event_endpoint"][...]]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check_endpoint(self, k):
        f = self.f
        ok = f["status"] == 0
        data = []
        for arm in (0, 1):
            for t, e, good in zip(f["event_time_d"][arm, :, k], f["event_observed"][arm, :, k], ok[arm]):
                if good and e >= 0:
                    data.append((float(t), int(e), arm))
        rows = run_r(data)
        grid = list(f["event_time"])
        name = self.endpoints[k]
        km_rows = 0
        for kind, v in rows:
            if kind == "km":
                arm, t = int(v[0]), v[1]
                i = grid.index(t)
                ours = [t, f["km_at_risk"][arm, k, i], f["km_events"][arm, k, i], f["km_censored"][arm, k, i],
                        f["km_survival"][arm, k, i], f["km_lower"][arm, k, i], f["km_upper"][arm, k, i]]
                km_rows += 1
                v = v[1:]
            elif kind == "median":
                arm = int(v[0])
                ours = [arm, f["km_median_d"][arm, k], f["km_median_lower_d"][arm, k], f["km_median_upper_d"][arm, k]]
            elif kind == "cox":
                v = [v[2], v[3], v[4]]
                ours = [f["hazard_ratio"][1, k], f["hazard_ratio_lower"][1, k], f["hazard_ratio_upper"][1, k]]
            else:
                v = [v[1]]
                ours = [f["logrank_p"][1, k]]
            for x, y in zip(ours, v):
                where = f"{name} {kind}: file {ours}, R {v}"
                x = float(x)
                if y is None:
                    self.assertTrue(math.isnan(x), where)
                else:
                    self.assertLessEqual(abs(x - y), TOL * max(1.0, abs(y)), where)
        self.assertGreater(km_rows, 5, f"{name}: too few Kaplan-Meier rows to be a test")
        # The first arm is the reference: no hazard ratio of its own.
        self.assertTrue(math.isnan(f["hazard_ratio"][0, k]))

    def test_response(self):
        self.check_endpoint(self.endpoints.index("response"))

    def test_remission(self):
        self.check_endpoint(self.endpoints.index("remission"))

    def test_relapse(self):
        self.check_endpoint(self.endpoints.index("relapse"))


if __name__ == "__main__":
    unittest.main()
