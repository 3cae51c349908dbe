#!/usr/bin/python3
"""Response-guided dosing and titration (issue 11, docs/config.md regimen `guided`, `titration`),
checked from the results file alone: every session time and dose the file records for a guided
patient is recomputed here from the rule as docs/config.md states it, applied to the MADRS scores
the same file stores at the visits. The rule reads the latest visit at or before a session; so a
simulation that looked ahead, skipped a re-simulation or stepped the wrong way would disagree.
Patients in remission must get fewer sessions than the others (the point of the design).

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import tempfile
import unittest

import numpy as np
import xarray as xr

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
CONFIG = os.path.join(SOURCE_DIR, "configs", "guided-dosing.yaml")

REMISSION_THRESHOLD = 12      # endpoints.remission_threshold of the config
RESPONSE_FRACTION = 0.5       # endpoints.response_fraction
FIXED_D = [3.5 * k for k in range(8)] + [28.0, 35.0, 42.0, 49.0]   # induction, then weekly weeks 5-8
GUIDED_START_D, UNTIL_D = 56.0, 168.0                                # the `until: 24w` phase


def ketasim(*args):
    return subprocess.run([KETASIM_EXE, *args], capture_output=True, text=True, timeout=900)


def remitter(score):
    return score <= REMISSION_THRESHOLD


def responder(baseline, score):
    return baseline - score >= RESPONSE_FRACTION * baseline


def expected_sessions(visits_d, madrs, baseline, ladder_d, when, otherwise, titrate):
    """Session times (d) and doses (mg) by the rule of docs/config.md, from the stored scores."""
    def latest_visit(t):
        seen = [v for v, d in enumerate(visits_d) if d <= t + 1e-9]
        return seen[-1] if seen else None

    def met(rule, t):
        v = latest_visit(t)
        if v is None:
            return False
        return remitter(madrs[v]) if rule == "remission" else responder(baseline, madrs[v])

    times, doses, titrated = [], [], False
    t, level = GUIDED_START_D, 0
    k = 0
    while True:
        if k < len(FIXED_D):
            s, guided = FIXED_D[k], False
        elif t < UNTIL_D - 1e-9:
            s, guided = t, True
        else:
            break
        if titrate and not titrated and s >= 3.5 - 1e-9 and not met("response", s):
            titrated = True
        times.append(s)
        doses.append(84.0 if titrated else 56.0)
        if guided:
            if met(when, s):
                level = min(level + 1, len(ladder_d) - 1)
            else:
                level = 0 if otherwise == "reset" else max(level - 1, 0)
            t = s + ladder_d[level]
        k += 1
    return times, doses


class GuidedDosingTest(unittest.TestCase):
    VARIANTS = {
        # the shipped config: label-like, weekly or every 2 weeks by remission, titration 56 -> 84 mg
        "label": ([], [7.0, 14.0], "remission", "reset", True),
        # a clinic's IV-style ladder, stepping by response and stepping down one rung at a time
        "ladder": (["--set", "arms.0.regimen.guided={stretch_to: [14d, 21d, 28d], when: response, otherwise: step_down}",
                    "--set", "arms.0.regimen.titration=null"], [7.0, 14.0, 21.0, 28.0], "response", "step_down", False),
    }

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_guided_")
        cls.files = {}
        for name, (extra, *_rest) in cls.VARIANTS.items():
            out = os.path.join(cls.tmp.name, f"{name}.h5")
            proc = ketasim("run", CONFIG, "--patients", "300", "-q", "-o", out, *extra)
            assert proc.returncode == 0, proc.stderr
            cls.files[name] = out

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_variant(self, name):
        _extra, ladder, when, otherwise, titrate = self.VARIANTS[name]
        with xr.open_dataset(self.files[name], engine="h5netcdf") as ds:
            g = ds.sel(arm="guided")
            visits_d = ds["visit"].values.astype(float)
            checked = 0
            for p in range(g.sizes["patient"]):
                if int(g["status"][p]) != 0:
                    continue
                madrs = g["madrs"].values[p]
                self.assertTrue(np.all(np.isfinite(madrs)), "no dropout in this config: every score is stored")
                times = g["dose_time_h"].values[p]
                amounts = g["dose_amount_mg"].values[p]
                n = int(np.isfinite(times).sum())
                self.assertTrue(np.all(np.isnan(times[n:])), "unused dose slots stay empty")
                want_t, want_dose = expected_sessions(visits_d, madrs, float(g["baseline_madrs"][p]), ladder, when,
                                                      otherwise, titrate)
                np.testing.assert_array_equal(times[:n] / 24.0, want_t, err_msg=f"{name}, patient {p}: session times")
                np.testing.assert_array_equal(amounts[:n], want_dose, err_msg=f"{name}, patient {p}: doses")
                np.testing.assert_array_equal(g["dose_taken"].values[p][:n], 1)
                checked += 1
            self.assertGreater(checked, 250)
            return g["dose_time_h"].values, g["remission"].values, g["status"].values

    def test_label_rule_and_titration_recomputed_from_the_stored_scores(self):
        times, remission, status = self.check_variant("label")
        sessions = np.isfinite(times).sum(axis=1)
        ok = status == 0
        # Patients in remission at the end stretched to every 2 weeks: fewer sessions than the others.
        self.assertLess(sessions[ok & (remission == 1)].mean() + 2.0, sessions[ok & (remission == 0)].mean())

    def test_ladder_by_response_with_step_down(self):
        times, _, _ = self.check_variant("ladder")
        gaps = np.diff(times, axis=1) / 24.0
        self.assertTrue(np.any(np.isclose(gaps, 28.0)), "somebody reaches the longest rung")

    def test_same_file_at_one_and_two_threads(self):
        out = os.path.join(self.tmp.name, "one-thread.h5")
        proc = ketasim("run", CONFIG, "--patients", "300", "-q", "--threads", "1", "--set", "outputs.batch_patients=7", "-o", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with xr.open_dataset(self.files["label"], engine="h5netcdf") as a, xr.open_dataset(out, engine="h5netcdf") as b:
            for name in ("dose_time_h", "dose_amount_mg", "dose_taken", "madrs", "remission", "relapse"):
                np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)

    def test_fixed_arms_are_untouched_by_the_guided_one(self):
        with xr.open_dataset(self.files["label"], engine="h5netcdf") as ds:
            weekly = ds.sel(arm="fixed_weekly")["dose_time_h"].values
            expected = FIXED_D + [56.0 + 7.0 * k for k in range(16)]
            np.testing.assert_array_equal(weekly[:, :len(expected)] / 24.0, np.tile(expected, (weekly.shape[0], 1)))

    def test_bad_guided_blocks_name_the_key(self):
        cases = [("arms.0.regimen.guided.stretch_to=[5d]", "arms[0].regimen.guided.stretch_to", "longer than"),
                 ("arms.0.regimen.guided.when=mood", "arms[0].regimen.guided.when", "mood"),
                 ("arms.0.regimen.titration.to=70 mg", "arms[0].regimen.titration.to", "whole number of devices"),
                 ("arms.0.regimen.titration.to=28 mg", "arms[0].regimen.titration.to", "above the regimen's dose"),
                 ("arms.0.regimen.schedule.2={every: 7d, count: 3}", "arms[0].regimen.guided", "must run `until`")]
        for override, key, fragment in cases:
            for command in ("check", "run"):
                proc = ketasim(command, CONFIG, "--set", override, "-q",
                               *(["-o", os.path.join(self.tmp.name, "bad.h5")] if command == "run" else []))
                self.assertEqual(proc.returncode, 1, f"{command} {override}: {proc.stderr}")
                self.assertIn(key, proc.stderr)
                self.assertIn(fragment, proc.stderr)
                self.assertIn("guided-dosing.yaml:", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "bad.h5")))


if __name__ == "__main__":
    unittest.main()
