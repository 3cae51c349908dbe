"""Runs the independent derived-quantity oracle (tools/derived_checks.py) on the shipped models.

The oracle rebuilds each model's rate matrix from its YAML and compares CL, Vss and intranasal F
with figures worked out by hand from the reference file; it exits 1 when any is out of tolerance.
This test fails when it does, and also when it did not actually check the models it should have.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SOURCE_DIR, "tools", "derived_checks.py")
MODELS = os.path.join(SOURCE_DIR, "models")


def run(models_dir):
    return subprocess.run(["/usr/bin/python3", SCRIPT, models_dir], capture_output=True, text=True, timeout=120)


class DerivedChecks(unittest.TestCase):
    def test_shipped_models_pass(self):
        r = run(MODELS)
        self.assertEqual(r.returncode, 0, msg=r.stdout + r.stderr)
        self.assertIn("all checks passed", r.stdout)
        for model in ("domino-1984", "clements-nimmo-1981", "herd-anderson-2007", "p1-benchmark",
                      "perez-ruixo-2021-esketamine"):
            self.assertIn(model, r.stdout, msg="oracle did not check " + model)
        for quantity in ("F_IN_28mg", "F_IN_56mg", "F_IN_84mg"):
            self.assertIn(quantity, r.stdout)

    def test_oracle_fails_on_a_drifted_model(self):
        # A copy of the models with Herd & Anderson CL changed 90 -> 95 L/h must make the oracle fail:
        # proves the ctest above can fail.
        with tempfile.TemporaryDirectory() as tmp:
            for name in os.listdir(MODELS):
                if name.endswith(".yaml"):
                    shutil.copy(os.path.join(MODELS, name), tmp)
            path = os.path.join(tmp, "herd-anderson-2007.yaml")
            with open(path) as f:
                text = f.read()
            self.assertIn("CL: {value: 90,", text)
            with open(path, "w") as f:
                f.write(text.replace("CL: {value: 90,", "CL: {value: 95,", 1))
            r = run(tmp)
            self.assertEqual(r.returncode, 1, msg=r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
