#!/usr/bin/python3
"""`run --no-variability` and `pk --profile` (issue 13 item 6), through the binary.

* --no-variability: every PK random effect is zero, so each patient's CL is the model file's
  typical value scaled by its own weight (Herd & Anderson: CL = 90 L/h x (WT/70)^0.75, read from
  models/herd-anderson-2007.yaml, not from ketasim);
* pk --profile: the typical patient's curve as long CSV; at the end of the first 40-min infusion
  (a 5-minute grid point) it equals the Cmax that `pk` prints, and the file is complete (no
  temporary file left).

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import tempfile
import unittest

import h5py
import numpy as np
import pandas as pd
import yaml

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
DEFAULT = os.path.join(SOURCE_DIR, "configs", "default.yaml")


class TypicalValue(unittest.TestCase):
    def test_no_variability_gives_typical_clearance(self):
        with open(os.path.join(SOURCE_DIR, "models", "herd-anderson-2007.yaml")) as fh:
            cl = yaml.safe_load(fh)["parameters"]["CL"]
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "t.h5")
            for flag, typical in (("--no-variability", True), (None, False)):
                args = [KETASIM_EXE, "run", DEFAULT, "--patients", "50", "-o", out, "--quiet"] + ([flag] if flag else [])
                subprocess.run(args, check=True, capture_output=True)
                with h5py.File(out, "r") as f:
                    weight = f["weight_kg"][...]
                    clearance = f["pk_CL"][0]
                expected = cl["value"] * (weight / 70.0) ** cl["allometric_exponent"]
                if typical:
                    np.testing.assert_allclose(clearance, expected, rtol=1e-12)
                else:
                    self.assertGreater(np.std(np.log(clearance / expected)), 0.05)  # random effects are back

    def test_profile_csv(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "profile.csv")
            proc = subprocess.run([KETASIM_EXE, "pk", DEFAULT, "--arm", "iv_ketamine", "--profile", path],
                                  capture_output=True, text=True, check=True)
            self.assertEqual(os.listdir(tmp), ["profile.csv"])
            frame = pd.read_csv(path)
            self.assertEqual(list(frame.columns), ["arm", "output", "time_h", "conc_ng_per_ml"])
            self.assertEqual(set(frame["output"]), {"S-ketamine", "R-ketamine", "ketamine"})
            total = frame[frame["output"] == "ketamine"].set_index("time_h")["conc_ng_per_ml"]
            lines = proc.stdout.split("NCA of ketamine")[1].splitlines()
            first_cmax = float(lines[2].split()[1])
            self.assertAlmostEqual(total.loc[total.index[np.argmin(np.abs(total.index - 40 / 60))]] / first_cmax, 1.0,
                                   delta=1e-4)  # printed with 5 significant digits


if __name__ == "__main__":
    unittest.main()
