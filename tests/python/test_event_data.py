#!/usr/bin/python3
"""Dosing from a NONMEM-style event data set (issue 13 item 1, issue 11 item 2).

tests/data/events/three.csv gives three patients their own dosing histories: 101 three 40-minute
infusions given by RATE, 102 weekly infusions from one record with ADDL/II, 103 boluses at
stretching intervals (one record with ADDL). three-yaml.yaml gives the same doses as YAML
regimens, one arm per patient, to the same three patients (same covariates from a population
file, same random streams). Patient k of the data arm must match patient k of YAML arm k:
- concentrations (float32 in the file) equal to 1e-9 relative: both runs build the same
  simulation grid from the same doses, so the doubles agree to round-off (the one difference is
  40 min written as RATE vs infusion_rate, same division) and the stored floats are identical;
- NCA per dose (float64) to 1e-9 relative, MADRS exactly (same exposure, same streams);
- dose_time_h / dose_amount_mg are each patient's own doses (NaN beyond them);
- patient_id is the file's ID, not the row number;
- results are bit-identical with 1 and 2 threads;
- `check` lists the data set's doses, `pk` says a data arm has no typical-patient profile;
- the NONMEM-style export reads back with the same doses and concentrations (ExportRoundTrip).

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
import pandas as pd

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
EVENTS = os.path.join(SOURCE_DIR, "tests", "data", "events")


def run(config, out, *extra):
    proc = subprocess.run([KETASIM_EXE, "run", os.path.join(EVENTS, config), "-o", out, "--quiet", *extra],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(proc.stderr)


def read(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][...] for name in f if isinstance(f[name], h5py.Dataset) and f[name].dtype.kind in "fiu"}


class EventData(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_events_")
        cls.data_path = os.path.join(cls.tmp.name, "data.h5")
        cls.yaml_path = os.path.join(cls.tmp.name, "yaml.h5")
        run("three.yaml", cls.data_path, "--threads", "1")
        run("three-yaml.yaml", cls.yaml_path)
        cls.data, cls.yaml = read(cls.data_path), read(cls.yaml_path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_concentrations_match_equivalent_yaml_regimens(self):
        for name in ("conc_ketamine", "conc_s_ketamine", "conc_r_ketamine"):
            for k in range(3):
                with self.subTest(name=name, patient=k):
                    got, want = self.data[name][0, k], self.yaml[name][k, k]
                    self.assertGreater(want.max(), 10.0)  # a real profile, not two empty ones
                    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)

    def test_nca_and_scores_match(self):
        for name in ("cmax_ketamine", "auc_ketamine", "tmax_ketamine"):
            for k in range(3):
                with self.subTest(name=name, patient=k):
                    np.testing.assert_allclose(self.data[name][0, k], self.yaml[name][k, k], rtol=1e-9, atol=0)
        for k in range(3):
            np.testing.assert_array_equal(self.data["madrs"][0, k], self.yaml["madrs"][k, k])

    def test_doses_given_per_patient_are_in_the_file(self):
        times = self.data["dose_time_h"][0]
        amounts = self.data["dose_amount_mg"][0]
        taken = self.data["dose_taken"][0]
        nan = np.nan
        np.testing.assert_array_equal(times, [[0, 84, 168, nan], [0, 168, 336, 504], [0, 72, 240, 480]])
        np.testing.assert_array_equal(amounts, [[35, 35, 35, nan], [42.75] * 4, [20, 20, 30, 30]])
        np.testing.assert_array_equal(taken, [[1, 1, 1, -1], [1] * 4, [1] * 4])
        for k in range(3):  # the same as the YAML arm that gives this patient's schedule
            np.testing.assert_array_equal(times[k], self.yaml["dose_time_h"][k, k])

    def test_ids_are_kept(self):
        np.testing.assert_array_equal(self.data["patient_id"], [101, 102, 103])
        with h5py.File(self.data_path, "r") as f:
            roles = list(f["input_role"].asstr()[...])
            self.assertIn("event_data", roles)

    def test_same_results_at_any_thread_count(self):
        other = os.path.join(self.tmp.name, "threads2.h5")
        run("three.yaml", other, "--threads", "2")
        again = read(other)
        for name, values in self.data.items():
            np.testing.assert_array_equal(values, again[name], err_msg=name)

    def test_check_accepts_and_lists_the_data_set(self):
        proc = subprocess.run([KETASIM_EXE, "check", os.path.join(EVENTS, "three.yaml")], capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("doses per patient from", proc.stdout)
        self.assertIn("3 patients, 11 doses (3 to 4 per patient)", proc.stdout)
        self.assertIn("35 mg over 40 min", proc.stdout)

    def test_pk_says_there_is_no_typical_profile(self):
        # `pk` profiles a typical patient's regimen; a data arm has none, and says so (no empty profile).
        proc = subprocess.run([KETASIM_EXE, "pk", os.path.join(EVENTS, "three.yaml")], capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("no typical-patient profile", proc.stdout)
        self.assertNotIn("Cmax", proc.stdout)



class ExportRoundTrip(unittest.TestCase):
    """`tools/ketasim_export.py --format nonmem` writes dose records (each dose's RATE from
    dose_duration_h) and DV at the sampling times; read back as the event data set of the same
    study it gives the same doses and concentrations. Tolerance 1e-8 relative: the CSV holds 10
    significant digits (RATE, DV), so a duration AMT/RATE read back is within 5e-10 relative and
    the concentrations follow it linearly; doses and times are exact."""

    def test_export_reads_back_with_the_same_doses_and_concentrations(self):
        study = os.path.join(SOURCE_DIR, "tests", "data", "residual", "events.yaml")
        with tempfile.TemporaryDirectory(prefix="ketasim_roundtrip_") as tmp:
            first, second, csv = (os.path.join(tmp, n) for n in ("first.h5", "second.h5", "export.csv"))
            run_config(study, first, "--set", "outputs.concentration=full")
            proc = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "ketasim_export.py"), first,
                                   "--format", "nonmem", "-o", csv], capture_output=True, text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            frame = pd.read_csv(csv, na_values=".")
            doses = frame[frame["EVID"] == 1]
            self.assertEqual(len(doses), 11)  # three.csv's 3 + 4 + 4 doses
            self.assertEqual(sorted(doses["RATE"].unique().tolist()), [0.0, 52.5, 64.125])
            self.assertEqual(sorted(frame["PATIENT_ID"].unique().tolist()), [101, 102, 103])  # the file's IDs kept
            with h5py.File(first, "r") as f:
                dv = f["dv_ketamine"][0]
                obs = frame[(frame["EVID"] == 0) & (frame["DVID"] == 1)]  # DVID 1 = ketamine (alphabetical)
                np.testing.assert_allclose(obs["DV"].to_numpy(), dv.ravel(), rtol=1e-9)
            run_config(study, second, "--set", "outputs.concentration=full", "--set", f"arms.0.regimen.data={csv}")
            a, b = read(first), read(second)
            np.testing.assert_array_equal(b["patient_id"], [1, 2, 3])  # the export's IDs
            for name in ("dose_time_h", "dose_amount_mg", "dose_taken", "weight_kg", "age_y", "sex"):
                np.testing.assert_array_equal(a[name], b[name], err_msg=name)
            for name in ("dose_duration_h", "conc_ketamine", "conc_s_ketamine", "ipred_ketamine", "dv_ketamine",
                         "dv_s_ketamine", "cmax_ketamine", "auc_ketamine"):
                np.testing.assert_allclose(b[name], a[name], rtol=1e-8, atol=0, err_msg=name)


def run_config(config, out, *extra):
    proc = subprocess.run([KETASIM_EXE, "run", config, "-o", out, "--quiet", *extra], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise AssertionError(proc.stderr)


if __name__ == "__main__":
    unittest.main()
