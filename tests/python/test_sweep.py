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


class CohortSweep(unittest.TestCase):
    """A sweep over the cohort's distributions (configs/sweep-cohort.yaml: age groups): covariates
    gain the sweep dimension, patient i keeps its quantile in every group, and a point equals the
    same cohort run alone."""

    CONFIG = os.path.join(SOURCE_DIR, "configs", "sweep-cohort.yaml")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.tmp.name, "cohort.h5")
        run("--patients", "400", "-o", cls.path, cls.CONFIG)
        cls.ds = xr.open_dataset(cls.path, engine="h5netcdf")

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()
        cls.tmp.cleanup()

    def test_covariates_per_point_same_quantiles(self):
        ds = self.ds
        self.assertEqual(ds.age_y.dims, ("age_group_mean_y", "patient"))
        self.assertEqual(ds.weight_kg.dims, ("age_group_mean_y", "patient"))
        age = ds.age_y.values
        for k, mean in enumerate([30, 46, 72]):
            # truncated at 18 and 90, 3 SD or more from each mean: the sample mean within 5 SE.
            self.assertLess(abs(age[k].mean() - mean), 5 * 6 / np.sqrt(age.shape[1]))
            np.testing.assert_array_equal(np.argsort(age[k], kind="stable"), np.argsort(age[0], kind="stable"))
        np.testing.assert_array_equal(ds.weight_kg.values[0], ds.weight_kg.values[2])  # not swept
        np.testing.assert_array_equal(ds.baseline_madrs.values[0], ds.baseline_madrs.values[2])
        # The model's age effect: hepatic blood flow falls above 60 y and not below (model file).
        qh = ds.pk_QH.isel(arm=0).values
        young, old = age[0] <= 60, age[2] > 60
        self.assertGreater(old.sum(), 300)
        self.assertTrue(np.all(qh[2][old] < qh[0][old]))
        both_young = young & (age[1] <= 60)
        np.testing.assert_array_equal(qh[1][both_young], qh[0][both_young])

    def test_a_point_equals_its_cohort_run_alone(self):
        alone_path = os.path.join(self.tmp.name, "alone.h5")
        run("--patients", "400", "-o", alone_path, "--set", "sweep=null", "--set", "cohort.age_y.mean=72", self.CONFIG)
        point = self.ds.sel(age_group_mean_y=72)
        with xr.open_dataset(alone_path, engine="h5netcdf") as alone:
            self.assertEqual(alone.age_y.dims, ("patient",))
            for name in ("age_y", "weight_kg", "sex", "madrs", "remission", "cmax_esketamine", "pk_QH"):
                self.assertEqual(point[name].values.tobytes(), alone[name].values.tobytes(), name)

    def test_cohort_size_cannot_be_swept(self):
        r = subprocess.run([KETASIM_EXE, "check", self.CONFIG, "--set", "sweep.grid.0.key=cohort.patients"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("'cohort.patients' cannot be swept", r.stderr)


if __name__ == "__main__":
    unittest.main()
