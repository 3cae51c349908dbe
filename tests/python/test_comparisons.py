#!/usr/bin/python3
"""`endpoints.comparisons` and the two kinds of between-arm interval `ketasim run` prints (issue 11).

Runs configs/time-to-event.yaml (pairs: esketamine_84mg vs placebo_spray) and
configs/single-infusion.yaml (reference: saline), then recomputes every printed difference from the
results file's per-patient flags and changes with the reference implementations below, written
from the papers, not from src/trial/statistics.cpp:
  * parallel-group (independent samples): Newcombe (1998, Stat Med 17:873) method 10 for rates,
    Welch for the mean change (tools/ketasim_analysis.py's newcombe_difference for rates);
  * paired (the same patients in both arms): Newcombe (1998, Stat Med 17:2635) method 10 on the
    2x2 table of patients ok in both arms; the mean and normal CI of per-patient differences;
  * standardized effect size: difference in mean change / sqrt((sd_a^2 + sd_b^2) / 2).
Printed numbers are rounded to 0.1 points (0.01 for the effect size), so agreement is to half a
unit of the last digit plus 1e-9. Also checks the lines say which interval is which, and that a
bad comparison (unknown arm, arm vs itself, both forms) is an input error.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import math
import os
import re
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools"))
import ketasim_analysis as ka  # noqa: E402

Z = 1.959963984540054


def wilson(x, n, z=Z):
    p, c = x / n, z * z
    centre = (2 * n * p + c) / (2 * (n + c))
    half = z * math.sqrt(c + 4 * n * p * (1 - p)) / (2 * (n + c))
    return centre - half, centre + half


def paired_newcombe(a, b, c, d, z=Z):
    """Newcombe 1998b method 10: a both, b first only, c second only, d neither."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    m = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(m) if m > 0 else 0.0
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, p1 - p2 - below), min(1.0, p1 - p2 + above)


NUM = r"(-?\d+\.\d+|nan|-nan)"
TRIPLE = rf"{NUM} \[{NUM}, {NUM}\]"


def run(config, path, *extra):
    proc = subprocess.run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", config), "-o", path, "--quiet",
                           *extra], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(proc.stdout + proc.stderr)
    return proc.stdout


class Comparisons(unittest.TestCase):
    def check(self, printed, path, pairs):
        with h5py.File(path, "r") as f:
            arms = [a.decode() if isinstance(a, bytes) else a for a in f["arm"][...]]
            status, response, remission = f["status"][...], f["response"][...], f["remission"][...]
            change = f["madrs_change"][...].astype(float)
        for arm, ref in pairs:
            i, j = arms.index(arm), arms.index(ref)
            label = re.escape(f"difference {arm} - {ref}")
            ind = re.search(label + rf" \(parallel-group: independent .*?\): response {TRIPLE}; remission {TRIPLE}; "
                            rf"mean MADRS change {TRIPLE}", printed)
            par = re.search(label + rf" \(paired: same patients in both arms, n = (\d+);.*?\): response {TRIPLE}; "
                            rf"remission {TRIPLE}; mean MADRS change {TRIPLE}; standardized effect size "
                            rf"\(change difference / pooled SD\) {NUM}", printed)
            self.assertIsNotNone(ind, f"no parallel-group line for {arm} - {ref}:\n{printed}")
            self.assertIsNotNone(par, f"no paired line for {arm} - {ref}:\n{printed}")
            ind = [float(x) for x in ind.groups()]
            par = [float(x) for x in par.groups()]
            ok_i, ok_j = status[i] == 0, status[j] == 0
            both = ok_i & ok_j
            expected_ind, expected_par = [], []
            for flags in (response, remission):
                x, y = flags[i][ok_i], flags[j][ok_j]
                d, lo, hi = ka.newcombe_difference(int(x.sum()), len(x), int(y.sum()), len(y))
                expected_ind += [100 * d, 100 * lo, 100 * hi]
                fi, fj = flags[i][both] == 1, flags[j][both] == 1
                cells = [int((fi & fj).sum()), int((fi & ~fj).sum()), int((~fi & fj).sum()), int((~fi & ~fj).sum())]
                lo, hi = paired_newcombe(*cells)
                expected_par += [100 * (cells[1] - cells[2]) / sum(cells), 100 * lo, 100 * hi]
            ci, cj = change[i][ok_i], change[j][ok_j]
            diff = ci.mean() - cj.mean()
            se = math.sqrt(ci.var(ddof=1) / len(ci) + cj.var(ddof=1) / len(cj))
            expected_ind += [diff, diff - Z * se, diff + Z * se]
            per_patient = change[i][both] - change[j][both]
            m, s = per_patient.mean(), per_patient.std(ddof=1) / math.sqrt(len(per_patient))
            expected_par += [m, m - Z * s, m + Z * s]
            effect = diff / math.sqrt((ci.var(ddof=1) + cj.var(ddof=1)) / 2)
            self.assertEqual(int(par[0]), int(both.sum()))
            for got, want in zip(ind, expected_ind):
                self.assertLessEqual(abs(got - want), 0.05 + 1e-9, f"{arm} - {ref} parallel-group: {ind} vs {expected_ind}")
            for got, want in zip(par[1:10], expected_par):
                self.assertLessEqual(abs(got - want), 0.05 + 1e-9, f"{arm} - {ref} paired: {par} vs {expected_par}")
            self.assertLessEqual(abs(par[10] - effect), 0.005 + 1e-9, f"effect size {par[10]} vs {effect}")
            # Common random numbers: the paired interval is the narrower one where outcomes correlate.
            self.assertLess(par[9] - par[8], ind[8] - ind[7])

    def test_pairs_with_paired_and_independent_intervals(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.h5")
            printed = run("time-to-event.yaml", path, "--patients", "300")
            self.check(printed, path, [("esketamine_84mg", "placebo_spray")])
            self.assertNotIn("difference placebo_spray", printed)

    def test_every_arm_vs_a_named_reference(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.h5")
            printed = run("single-infusion.yaml", path, "--patients", "200")
            self.check(printed, path, [("ketamine", "saline"), ("midazolam", "saline")])
            # The same table from `summary` (the comparisons travel in the file).
            summary = subprocess.run([KETASIM_EXE, "summary", path], capture_output=True, text=True, check=True).stdout
            self.assertIn("difference midazolam - saline (paired", summary)

    def test_ancova_equals_r_lm(self):
        """The printed ANCOVA line against R's lm(change ~ arm + baseline) and confint on the file's
        per-patient values (2 printed decimals: agreement to 0.005 + 1e-9), with and without dropout."""
        import shutil
        if shutil.which("Rscript") is None:
            raise AssertionError("Rscript is missing: tools/setup.sh installs r-base-core")
        for extra, dropout in ((), False), (("--set", "endpoints.dropout={rate_per_week: 2}"), True):
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "a.h5")
                printed = run("single-infusion.yaml", path, "--patients", "200", *extra)
                with h5py.File(path, "r") as f:
                    arms = [a.decode() if isinstance(a, bytes) else a for a in f["arm"][...]]
                    status, change = f["status"][...], f["madrs_change"][...].astype(float)
                    baseline = f["baseline_madrs"][...].astype(float)
                for arm, ref in (("ketamine", "saline"), ("midazolam", "saline")):
                    i, j = arms.index(arm), arms.index(ref)
                    rows = [(c, 1, b) for c, b, s in zip(change[i], baseline[i], status[i]) if s == 0] + \
                           [(c, 0, b) for c, b, s in zip(change[j], baseline[j], status[j]) if s == 0]
                    data = os.path.join(tmp, "d.txt")
                    with open(data, "w") as fh:
                        fh.write("".join(f"{c!r} {g} {b!r}\n" for c, g, b in rows))
                    r = subprocess.run(["Rscript", "-e",
                                        f"d <- read.table('{data}', col.names = c('y', 'g', 'b')); "
                                        "fit <- lm(y ~ g + b, data = d); ci <- confint(fit); "
                                        "cat(sprintf('%.12g', c(coef(fit)['g'], ci['g', 1], ci['g', 2])))"],
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    want = [float(x) for x in r.stdout.split()]
                    m = re.search(re.escape(f"difference {arm} - {ref} (ANCOVA of MADRS change on arm and baseline, "
                                            "LS means, t 95% CI, points): ") + rf"{TRIPLE}; (.*)", printed)
                    self.assertIsNotNone(m, printed)
                    got = [float(x) for x in m.groups()[:3]]
                    for g, w in zip(got, want):
                        self.assertLessEqual(abs(g - w), 0.005 + 1e-9, f"{arm} - {ref}: {got} vs R {want}")
                    if dropout:
                        self.assertIn("dropouts enter with their last score (LOCF), so this is not an MMRM", m.group(4))
                    else:
                        self.assertIn("with no dropout this is the MMRM LS-mean difference", m.group(4))

    def test_default_is_every_arm_vs_the_first(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.h5")
            printed = run("single-infusion.yaml", path, "--patients", "50", "--set", "endpoints.comparisons=null")
            self.assertIn("difference midazolam - ketamine (parallel-group", printed)
            self.assertIn("difference saline - ketamine (paired", printed)

    def test_bad_comparisons_are_input_errors(self):
        cases = {
            "{reference: nobody}": "no arm named 'nobody'",
            "{pairs: [{arm: saline, reference: saline}]}": "cannot be compared with itself",
            "{reference: saline, pairs: []}": "either 'reference'",
            "{pairs: [{arm: saline, against: ketamine}]}": "against",
        }
        for value, message in cases.items():
            with self.subTest(value=value), tempfile.TemporaryDirectory() as tmp:
                proc = subprocess.run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "single-infusion.yaml"),
                                       "--set", f"endpoints.comparisons={value}", "-o", os.path.join(tmp, "x.h5"),
                                       "--quiet"], capture_output=True, text=True)
                self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
                self.assertIn(message, proc.stderr)
                self.assertIn("endpoints.comparisons", proc.stderr)


if __name__ == "__main__":
    unittest.main()
