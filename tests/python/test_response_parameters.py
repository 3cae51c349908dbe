#!/usr/bin/python3
"""Sweeps over response-model parameters (issue 11; docs/config.md `response_parameters`), from
configs/sweep-response-model.yaml:

- a sweep point is the run of a response-model *file* with those values (the model file edited
  here as text, no `response_parameters` at all): every per-patient dataset is bit-identical, so
  the override path changes nothing but the value;
- a property of the shipped structure on the same patients: a larger typical maximum benefit
  never raises anybody's score at any visit (the score falls monotonically with Emax);
- bad values are refused by check and run alike, naming the key.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
CONFIG = os.path.join(SOURCE_DIR, "configs", "sweep-response-model.yaml")
MODEL = os.path.join(SOURCE_DIR, "models", "response", "default.yaml")
PER_PATIENT = ("madrs", "madrs_change", "response", "remission", "relapse", "response_by_visit", "remission_by_visit")


def ketasim(*args):
    return subprocess.run([KETASIM_EXE, *args], capture_output=True, text=True, timeout=900)


def edited_model(path, values):
    """default.yaml with `parameters.<name>.value` (and unit) replaced, as text."""
    with open(MODEL, encoding="utf-8") as f:
        text = f.read()
    for name, (value, unit) in values.items():
        pattern = rf"(\n  {re.escape(name)}:\n    value: )[^\n]+(\n    unit: )[^\n]+"
        text, n = re.subn(pattern, rf"\g<1>{value}\g<2>{unit}", text, count=1)
        assert n == 1, name
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class ResponseParameterSweep(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_response_parameters_")
        cls.path = os.path.join(cls.tmp, "sweep.h5")
        proc = ketasim("run", CONFIG, "--patients", "300", "-q", "-o", cls.path)
        assert proc.returncode == 0, proc.stderr
        with h5py.File(cls.path, "r") as f:
            cls.f = {name: f[name][...] for name in PER_PATIENT + ("emax_typical", "fast_half_life_d", "status")}
            cls.dims = [d.decode() if isinstance(d, bytes) else d for d in [f.attrs["sweep_dimensions"]]][0].split()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_the_file_has_the_parameters_as_dimensions(self):
        self.assertEqual(self.dims, ["emax_typical", "fast_half_life_d"])
        np.testing.assert_array_equal(self.f["emax_typical"], [0.45, 0.659, 0.85])
        np.testing.assert_array_equal(self.f["fast_half_life_d"], [1, 1.957, 3])
        self.assertEqual(self.f["madrs"].shape[:3], (3, 3, 1))

    def test_a_point_equals_the_run_of_an_edited_model_file(self):
        for i, j in ((0, 2), (2, 0)):
            emax, half_life = self.f["emax_typical"][i], self.f["fast_half_life_d"][j]
            model = os.path.join(self.tmp, f"model-{i}-{j}.yaml")
            edited_model(model, {"emax_typical": (repr(float(emax)), "1"), "fast_half_life": (repr(float(half_life)), "d")})
            out = os.path.join(self.tmp, f"point-{i}-{j}.h5")
            proc = ketasim("run", CONFIG, "--patients", "300", "-q", "-o", out, "--set", "sweep=null",
                           "--set", f"endpoints.model={model}")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with h5py.File(out, "r") as f:
                for name in PER_PATIENT:
                    np.testing.assert_array_equal(self.f[name][i, j], f[name][...], err_msg=f"{name} at point {i}, {j}")

    def test_more_benefit_never_raises_a_score(self):
        madrs = self.f["madrs"].astype(float)
        ok = np.all(self.f["status"] == 0)
        self.assertTrue(ok)
        for j in range(3):
            for i in range(2):
                lower, higher = madrs[i, j], madrs[i + 1, j]  # emax_typical rises with i
                self.assertTrue(np.all(higher <= lower), f"fast_half_life index {j}: a larger Emax raised a score")
            self.assertGreater((madrs[2, j] < madrs[0, j]).sum(), 100)

    def test_bad_values_are_refused_by_check_and_run_alike(self):
        cases = [("sweep.grid.0.values=[0.2, 1.5]", "response_parameters.emax_typical", "must be within (0, 1)"),
                 ("sweep.grid.0.key=response_parameters.no_such", "response_parameters.no_such", "has no parameter"),
                 ("sweep.grid.1.unit=mg", "response_parameters.fast_half_life", "expected a time value"),
                 ("response_parameters={fast_half_life: 0.3}", "response_parameters.fast_half_life", "needs a unit")]
        for override, key, fragment in cases:
            results = []
            for command in ("check", "run"):
                extra = ["--set", "sweep=null"] if override.startswith("response_parameters") else []
                proc = ketasim(command, CONFIG, "--set", override, *extra, "-q",
                               *(["-o", os.path.join(self.tmp, "bad.h5")] if command == "run" else []))
                self.assertEqual(proc.returncode, 1, f"{command} {override}: {proc.stderr}")
                self.assertIn(key, proc.stderr, override)
                self.assertIn(fragment, proc.stderr, override)
                self.assertIn("sweep-response-model.yaml", proc.stderr, override)
                results.append(proc.stderr)
            self.assertEqual(results[0], results[1])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "bad.h5")))


if __name__ == "__main__":
    unittest.main()
