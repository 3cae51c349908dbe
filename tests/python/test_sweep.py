#!/usr/bin/python3
"""Sweep results (issue 4): configs/sweep.yaml run once opens in xarray with one dimension per
swept key whose coordinates are the swept values; selecting one point gives bit-identical
madrs/response/remission arrays to the same point run alone through --set (same virtual patients,
same random streams); config_json stores the effective config after --set/--patients/--seed.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import json
import os
import subprocess
import tempfile
import unittest

import numpy as np
import xarray as xr

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
SWEEP = os.path.join(SOURCE_DIR, "configs", "sweep.yaml")
PATIENTS = "60"  # small: the comparison is exact, not statistical


def run(*args):
    r = subprocess.run([KETASIM_EXE, "run", "--quiet", "--threads", "2", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"ketasim run {' '.join(args)} exited {r.returncode}:\n{r.stderr}")
    return r.stdout


class SweepFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.sweep_path = os.path.join(cls.tmp.name, "sweep.h5")
        cls.sweep_out = run("--patients", PATIENTS, "-o", cls.sweep_path, SWEEP)
        cls.ds = xr.open_dataset(cls.sweep_path, engine="h5netcdf")

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()
        cls.tmp.cleanup()

    def test_dimensions_and_coordinates(self):
        ds = self.ds
        self.assertEqual(list(ds.dose_mg_per_kg.values), [0.25, 0.5, 0.75, 1.0])
        self.assertEqual(list(ds.interval_d.values), [7.0, 14.0, 21.0, 28.0])
        self.assertEqual(ds.dose_mg_per_kg.attrs["units"], "mg/kg")
        self.assertEqual(ds.interval_d.attrs["units"], "d")
        self.assertEqual(ds.madrs.dims, ("dose_mg_per_kg", "interval_d", "arm", "patient", "visit"))
        self.assertEqual(ds.remission.dims, ("dose_mg_per_kg", "interval_d", "arm", "patient"))
        self.assertEqual(ds.attrs["sweep_dimensions"], "dose_mg_per_kg interval_d")
        self.assertEqual(len(ds.attrs["sweep_points"].split("\n")), 16)

    def test_summary_has_one_block_per_point(self):
        self.assertEqual(self.sweep_out.count("sweep point "), 16)
        self.assertIn("sweep point dose_mg_per_kg=0.5 interval_d=14", self.sweep_out)

    def test_one_point_equals_the_same_point_run_alone(self):
        alone_path = os.path.join(self.tmp.name, "alone.h5")
        run("--patients", PATIENTS, "-o", alone_path,
            "--set", "sweep=null",
            "--set", "arms.0.regimen.dose=0.5 mg/kg",
            "--set", "arms.0.regimen.schedule.1.every=14 d", SWEEP)
        point = self.ds.sel(dose_mg_per_kg=0.5, interval_d=14)
        with xr.open_dataset(alone_path, engine="h5netcdf") as alone:
            self.assertNotIn("dose_mg_per_kg", alone.dims)
            for name in ("madrs", "response", "remission", "baseline_madrs", "status"):
                a, b = point[name].values, alone[name].values
                self.assertEqual(a.shape, b.shape, name)
                self.assertEqual(a.dtype, b.dtype, name)
                # Bit-identical, NaN included: compare the raw bytes.
                self.assertEqual(a.tobytes(), b.tobytes(), name)
            # Other points really differ (the comparison above is not vacuous).
            other = self.ds.sel(dose_mg_per_kg=1.0, interval_d=7)
            self.assertFalse(np.array_equal(other.madrs.values, alone.madrs.values))

    def test_config_json_is_the_effective_config(self):
        path = os.path.join(self.tmp.name, "effective.h5")
        run("--patients", "20", "--seed", "99", "-o", path,
            "--set", "sweep=null", "--set", "arms.0.regimen.dose=0.75 mg/kg",
            "--set", "endpoints.remission_threshold=12", SWEEP)
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            cfg = json.loads(ds.attrs["config_json"])
            self.assertEqual(cfg["cohort"]["patients"], 20)
            self.assertEqual(cfg["study"]["seed"], 99)
            self.assertEqual(cfg["arms"][0]["regimen"]["dose"], "0.75 mg/kg")
            self.assertEqual(cfg["endpoints"]["remission_threshold"], 12)
            self.assertIsNone(cfg["sweep"])
            # config_yaml stays the file verbatim.
            with open(SWEEP, encoding="utf-8") as f:
                self.assertEqual(ds.attrs["config_yaml"], f.read())
            self.assertEqual(ds.patient.size, 20)


if __name__ == "__main__":
    unittest.main()
