#!/usr/bin/python3
"""Randomized withdrawal (issue 11; docs/config.md `withdrawal`, docs/results-format.md
`withdrawal_*`), checked from the results file of the shipped SUSTAIN-1-like example:

- the two arms are the same patients on the same course until randomization: every score at or
  before `at` is equal in both arms (common random numbers, and models that never look ahead);
- each patient's group is recomputed here from the stored scores by the rule as documented;
- relapse after randomization (time and event, under both arms) is recomputed from the scores;
- the randomization is about 1:1 and the per-group counts are those of the per-patient arrays;
- Kaplan-Meier medians, the Cox hazard ratio (Efron) and the log-rank p equal R's survival package
  on the randomized patients' times (tests/data/survival/survival_reference.R), to 1e-6;
- bad `withdrawal:` blocks are refused by check and run alike, naming the key and line.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
CONFIG = os.path.join(SOURCE_DIR, "configs", "sustain1-withdrawal.yaml")
REFERENCE_R = os.path.join(SOURCE_DIR, "tests", "data", "survival", "survival_reference.R")
AT_D = 112.0
# (name, rule, visits, at_least, last) as in the config
GROUPS = [("stable_remitters", "remission", 4, 3, 2), ("stable_responders", "response", 2, 2, 2)]
REMISSION, RESPONSE, RELAPSE, CONSECUTIVE = 12, 0.5, 22, 2
TOL = 1e-6


def ketasim(*args):
    return subprocess.run([KETASIM_EXE, *args], capture_output=True, text=True, timeout=900)


def meets(rule, baseline, score):
    if np.isnan(score):
        return False
    return score <= REMISSION if rule == "remission" else baseline - score >= RESPONSE * baseline


def group_of(visits, baseline, madrs):
    at = int(np.flatnonzero(visits == AT_D)[0])
    for g, (_, rule, n, at_least, last) in enumerate(GROUPS):
        ok = [meets(rule, baseline, madrs[at - k]) for k in range(n)]
        if sum(ok) >= at_least and all(ok[:last]):
            return g
    return -1


def relapse_of(visits, madrs):
    run, time = 0, 0.0
    for v in np.flatnonzero(visits > AT_D):
        if np.isnan(madrs[v]):
            break
        time = visits[v] - AT_D
        run = run + 1 if madrs[v] >= RELAPSE else 0
        if run >= CONSECUTIVE:
            return time, 1
    return time, 0


def r_survival(times, events, groups):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.txt")
        with open(path, "w") as f:
            f.write("".join(f"{t!r} {e} {g}\n" for t, e, g in zip(times, events, groups)))
        r = subprocess.run(["Rscript", REFERENCE_R, path], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    rows = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        values = [None if p == "NA" else float(p) for p in parts[1:]]
        rows.setdefault(parts[0], []).append(values)
    return rows


class WithdrawalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_withdrawal_")
        cls.path = os.path.join(cls.tmp, "w.h5")
        proc = ketasim("run", CONFIG, "--patients", "1500", "--set", "outputs.batch_patients=128", "-q", "-o", cls.path)
        assert proc.returncode == 0, proc.stderr
        cls.printed = proc.stdout
        with h5py.File(cls.path, "r") as f:
            cls.f = {name: f[name][...] for name in f}
            cls.attrs = dict(f.attrs)
        cls.arms = [a.decode() if isinstance(a, bytes) else a for a in cls.f["arm"]]
        cls.visits = cls.f["visit"].astype(float)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def arm(self, name):
        return self.arms.index(name)

    def test_same_course_until_randomization(self):
        c, s = self.arm("esketamine_continue"), self.arm("placebo_switch")
        ok = (self.f["status"][c] == 0) & (self.f["status"][s] == 0)
        before = self.visits <= AT_D
        np.testing.assert_array_equal(self.f["madrs"][c][ok][:, before], self.f["madrs"][s][ok][:, before])
        after = self.f["madrs"][c][ok][:, ~before] != self.f["madrs"][s][ok][:, ~before]
        self.assertTrue(after.any(), "stopping the drug changes nothing after randomization?")

    def test_groups_assignment_and_relapse_recomputed(self):
        f = self.f
        c = self.arm("esketamine_continue")
        selected, assigned = f["withdrawal_selected"], f["withdrawal_assigned"]
        n = len(selected)
        for p in range(n):
            if f["status"][c][p] != 0 or f["status"][self.arm("placebo_switch")][p] != 0:
                self.assertEqual(selected[p], -1)
                continue
            g = group_of(self.visits, float(f["baseline_madrs"][c][p]), f["madrs"][c][p])
            self.assertEqual(selected[p], g, f"patient {p}")
            if g < 0:
                self.assertEqual(assigned[p], -1)
                self.assertTrue(np.all(f["withdrawal_relapse_event"][:, p] == -1))
                self.assertTrue(np.all(np.isnan(f["withdrawal_relapse_time_d"][:, p])))
                continue
            self.assertIn(assigned[p], (0, 1))
            for k, name in enumerate(["esketamine_continue", "placebo_switch"]):
                t, e = relapse_of(self.visits, f["madrs"][self.arm(name)][p])
                self.assertEqual(f["withdrawal_relapse_time_d"][k, p], t, f"patient {p}, {name}")
                self.assertEqual(f["withdrawal_relapse_event"][k, p], e, f"patient {p}, {name}")
        chosen = selected >= 0
        self.assertGreater(chosen.sum(), 300)
        # 1:1: the share randomized to stop within 5 binomial SE of 1/2.
        share = (assigned[chosen] == 1).mean()
        self.assertLess(abs(share - 0.5), 5 * np.sqrt(0.25 / chosen.sum()))
        for g in range(len(GROUPS)):
            for k in range(2):
                mine = chosen & (selected == g) & (assigned == k)
                self.assertEqual(f["withdrawal_n"][g, k], mine.sum())
                self.assertEqual(f["withdrawal_relapses"][g, k], (f["withdrawal_relapse_event"][k][mine] == 1).sum())

    def test_kaplan_meier_cox_and_logrank_equal_r(self):
        f = self.f
        selected, assigned = f["withdrawal_selected"], f["withdrawal_assigned"]
        for g, (name, *_rest) in enumerate(GROUPS):
            mine = selected == g
            arm = assigned[mine].astype(int)
            times = np.where(arm == 1, f["withdrawal_relapse_time_d"][1][mine], f["withdrawal_relapse_time_d"][0][mine])
            events = np.where(arm == 1, f["withdrawal_relapse_event"][1][mine], f["withdrawal_relapse_event"][0][mine])
            r = r_survival(times.tolist(), events.tolist(), arm.tolist())
            for k in range(2):
                median = r["median"][k][1:]  # group, estimate, lower, upper
                for ours, theirs in zip([f["withdrawal_km_median_d"][g, k], f["withdrawal_km_median_lower_d"][g, k],
                                         f["withdrawal_km_median_upper_d"][g, k]], median):
                    if theirs is None:
                        self.assertTrue(np.isnan(ours), name)
                    else:
                        self.assertLessEqual(abs(ours - theirs), TOL, name)
                # The Kaplan-Meier curve at R's times.
                grid = f["withdrawal_time"]
                for row in r["km"]:
                    if int(row[0]) != k:
                        continue
                    t = int(np.flatnonzero(grid == row[1])[0])
                    self.assertEqual(f["withdrawal_km_at_risk"][g, k, t], row[2], name)
                    self.assertLessEqual(abs(f["withdrawal_km_survival"][g, k, t] - row[5]), TOL, name)
            logrank = r["logrank"][0]
            self.assertLessEqual(abs(f["withdrawal_logrank_p"][g] - logrank[1]), TOL, name)
            hr = f["withdrawal_hazard_ratio"][g]
            if np.isnan(hr):  # not estimable: an arm without relapses (R reports a diverging beta)
                self.assertTrue(min(f["withdrawal_relapses"][g]) == 0, name)
                continue
            cox = r["cox"][0]  # coef, se, hr, lower, upper
            for ours, theirs in zip([hr, f["withdrawal_hazard_ratio_lower"][g], f["withdrawal_hazard_ratio_upper"][g]],
                                    cox[2:5]):
                self.assertLessEqual(abs(ours - theirs), TOL * max(1.0, abs(theirs)), name)

    def test_printed_summary_and_file_agree(self):
        f = self.f
        self.assertIn("randomized withdrawal at day 112", self.printed)
        for g, (name, *_rest) in enumerate(GROUPS):
            n, e = f["withdrawal_n"][g], f["withdrawal_relapses"][g]
            self.assertIn(f"{name}: esketamine_continue {e[0]}/{n[0]} relapsed", self.printed)
            self.assertIn(f"placebo_switch {e[1]}/{n[1]} relapsed", self.printed)
        # Stopping the drug must raise relapse among stable responders (a property of any model in
        # which the drug helps; holds for the shipped one by a wide margin).
        n, e = f["withdrawal_n"][1], f["withdrawal_relapses"][1]
        self.assertGreater(e[1] / n[1], e[0] / n[0] + 0.1)
        summary = ketasim("summary", self.path)
        self.assertEqual(summary.returncode, 0, summary.stderr)
        self.assertIn(self.printed.split("randomized withdrawal", 1)[1].split("Results:")[0], summary.stdout)

    def test_bad_withdrawal_blocks_name_the_key(self):
        cases = [("withdrawal.at=100d", "withdrawal.at", "one of the study's visits"),
                 ("withdrawal.stop=nobody", "withdrawal.stop", "'nobody'"),
                 ("withdrawal.stop=esketamine_continue", "withdrawal.stop", "another arm"),
                 ("withdrawal.at=119d", "withdrawal.stop", "session 21 before randomization differs"),
                 ("withdrawal.groups.0.visits=40", "withdrawal.groups[0].visits", "visits after baseline"),
                 ("withdrawal.groups.0.rule=happiness", "withdrawal.groups[0].rule", "happiness"),
                 ("withdrawal.ratio=[1]", "withdrawal.ratio", "[continue, stop]"),
                 ("withdrawal.at=336d", "withdrawal.at", "no visit to see a relapse")]
        for override, key, fragment in cases:
            results = []
            for command in ("check", "run"):
                proc = ketasim(command, CONFIG, "--set", override, "-q",
                               *(["-o", os.path.join(self.tmp, "bad.h5")] if command == "run" else []))
                self.assertEqual(proc.returncode, 1, f"{command} {override}: {proc.stderr}")
                self.assertIn(key, proc.stderr, override)
                self.assertIn(fragment, proc.stderr, override)
                self.assertIn("sustain1-withdrawal.yaml:", proc.stderr, override)
                results.append(proc.stderr)
            self.assertEqual(results[0], results[1])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "bad.h5")))


if __name__ == "__main__":
    unittest.main()
