#!/usr/bin/python3
"""The printed time-to-event lines (`run` and `summary`) equal the file's own Kaplan-Meier medians
and Cox hazard ratios (issue 11: "prints ... Kaplan-Meier medians and a hazard ratio with CI").
The table recomputes them from the per-patient event times; the file's datasets come from the
engine's batch-by-batch counts; tests/python/test_survival_r.py ties both to R's survival package.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import re
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")


def number(text):
    return float("nan") if text == "NR" else float(text)


class TimeToEventTable(unittest.TestCase):
    def test_printed_medians_and_hazard_ratios_equal_the_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "tte.h5")
            run = subprocess.run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "time-to-event.yaml"),
                                  "--patients", "300", "-q", "-o", out], capture_output=True, text=True, timeout=300)
            self.assertEqual(run.returncode, 0, run.stderr)
            summary = subprocess.run([KETASIM_EXE, "summary", out], capture_output=True, text=True, timeout=120)
            self.assertEqual(summary.stdout, run.stdout[:run.stdout.rindex("Results:")])
            with h5py.File(out, "r") as f:
                arms = [a.decode() for a in f["arm"][...]]
                endpoints = [e.decode() for e in f["event_endpoint"][...]]
                median = f["km_median_d"][...]
                lower, upper = f["km_median_lower_d"][...], f["km_median_upper_d"][...]
                hr, hr_lo, hr_hi = f["hazard_ratio"][...], f["hazard_ratio_lower"][...], f["hazard_ratio_upper"][...]
        text = run.stdout
        for a, arm in enumerate(arms):
            line = re.search(rf"^  {re.escape(arm)}:(.*)$", text, re.M)
            self.assertIsNotNone(line, text)
            for e, endpoint in enumerate(endpoints):
                m = re.search(rf"{endpoint} (\S+) \[(\S+), (\S+)\]", line.group(1))
                self.assertIsNotNone(m, line.group(1))
                for printed, stored in zip(m.groups(), (median[a, e], lower[a, e], upper[a, e])):
                    # Printed with one decimal; NR where the file has NaN.
                    np.testing.assert_allclose(number(printed.rstrip("]").rstrip(",")), stored, atol=0.051)
        # The file's hazard ratios are vs the first arm; the config compares arm 1 with arm 0.
        line = re.search(rf"hazard ratio {arms[1]} vs {arms[0]} .*?:(.*)$", text, re.M)
        self.assertIsNotNone(line, text)
        for e, endpoint in enumerate(endpoints):
            m = re.search(rf"{endpoint} (\S+) \[(\S+), (\S+)\]", line.group(1))
            for printed, stored in zip(m.groups(), (hr[1, e], hr_lo[1, e], hr_hi[1, e])):
                np.testing.assert_allclose(float(printed.rstrip("]").rstrip(",")), stored, atol=0.0051)


if __name__ == "__main__":
    unittest.main()
