#!/usr/bin/python3
"""Results file contract (spec 3) and common random numbers (issue 3), through the real binary.

* xarray.open_dataset(path, engine="h5netcdf") opens a `ketasim run` file with no options and
  sees named dimensions and a `units` and `long_name` on every variable; time and visit stay
  numbers (units `h`, `d`: not decoded to timedeltas);
* h5py reads `config_yaml` back byte for byte equal to the config file;
* same patient, same draws across arms (tests/data/engine/same-patient.yaml): arms `a` and `b`
  differ only in name, so every per-patient array is identical between them; arm `c` has another
  model and route but the same background: with the response model without drug effect
  (response-no-drug.yaml, kin = 0) its MADRS and baseline are identical to arm a's, while its PK
  is different.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import tempfile
import unittest

import h5py
import numpy as np
import xarray as xr

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
DATA = os.path.join(SOURCE_DIR, "tests", "data", "engine")


def run(config, out, *extra):
    cmd = [KETASIM_EXE, "run", os.path.join(DATA, config), "-o", out, "--quiet", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")


class ResultsFileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_test_results_")
        cls.two_arms = os.path.join(cls.tmp.name, "two-arms.h5")
        run("two-arms.yaml", cls.two_arms)
        cls.same = os.path.join(cls.tmp.name, "same.h5")
        run("same-patient.yaml", cls.same)
        cls.no_drug = os.path.join(cls.tmp.name, "no-drug.h5")
        run("same-patient.yaml", cls.no_drug, "--set", "endpoints.model=response-no-drug.yaml")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_xarray_h5netcdf_opens_with_no_options(self):
        with xr.open_dataset(self.two_arms, engine="h5netcdf") as ds:
            self.assertEqual(list(ds["arm"].values), ["iv_ketamine", "intranasal_esketamine"])
            self.assertEqual(ds.sizes["patient"], 300)
            self.assertEqual(ds["madrs"].dims, ("arm", "patient", "visit"))
            self.assertEqual(ds["conc_esketamine"].dims, ("arm", "patient", "time"))
            self.assertEqual(ds["cmax_esketamine"].dims, ("arm", "patient", "dose"))
            self.assertEqual(ds["weight_kg"].dims, ("patient",))
            self.assertEqual(ds["status"].dims, ("arm", "patient"))
            # Time and visit stay plain numbers in h and d.
            self.assertTrue(np.issubdtype(ds["time"].dtype, np.floating))
            self.assertTrue(np.issubdtype(ds["visit"].dtype, np.floating))
            self.assertEqual(ds["time"].attrs["units"], "h")
            self.assertEqual(ds["visit"].attrs["units"], "d")
            self.assertEqual(float(ds["time"][-1]), 28 * 24.0)
            self.assertEqual(ds["conc_esketamine"].attrs["units"], "ng/mL")
            self.assertEqual(ds["weight_kg"].attrs["units"], "kg")
            for name in list(ds.data_vars) + list(ds.coords):
                with self.subTest(variable=name):
                    self.assertIn("units", ds[name].attrs)
                    self.assertIn("long_name", ds[name].attrs)
            self.assertTrue((ds["status"] == 0).all())

    def test_h5py_reads_config_yaml_verbatim(self):
        with open(os.path.join(DATA, "two-arms.yaml"), encoding="utf-8") as f:
            text = f.read()
        with h5py.File(self.two_arms, "r") as f:
            stored = f.attrs["config_yaml"]
            if isinstance(stored, bytes):
                stored = stored.decode("utf-8")
            self.assertEqual(stored, text)
            self.assertEqual(f.attrs["Conventions"], b"CF-1.8")  # CF text attributes are NC_CHAR: bytes in h5py

    def test_identical_arms_have_identical_patients(self):
        with h5py.File(self.same, "r") as f:
            arms = [a.decode() if isinstance(a, bytes) else a for a in f["arm"][...]]
            self.assertEqual(arms, ["a", "b", "c"])
            compared = 0
            for name, obj in f.items():
                if not isinstance(obj, h5py.Dataset) or obj.ndim < 2:
                    continue
                dims = [d[0].name for d in obj.dims if len(d)]
                if dims[:2] != ["/arm", "/patient"]:
                    continue
                x = obj[...]
                with self.subTest(variable=name):
                    np.testing.assert_array_equal(x[0], x[1])  # NaN == NaN here
                compared += 1
            self.assertGreaterEqual(compared, 10)
            # Sanity: arm c (esketamine) differs, and adherence 0.8 made some doses missing in a.
            self.assertFalse(np.array_equal(f["madrs"][0], f["madrs"][2], equal_nan=True))

    def test_different_models_share_covariates_and_visit_noise(self):
        with h5py.File(self.no_drug, "r") as f:
            madrs, baseline = f["madrs"][...], f["baseline_madrs"][...]
            np.testing.assert_array_equal(madrs[0], madrs[2])
            np.testing.assert_array_equal(baseline[0], baseline[2])
            np.testing.assert_array_equal(madrs[0], madrs[1])
            # The PK differs between the arms, so the equality is not vacuous...
            self.assertTrue(np.isnan(f["pk_VC"][0]).all())
            self.assertTrue(np.isfinite(f["pk_VC"][2]).all())
            # ... and the noise is there: scores move around between visits.
            self.assertGreater(np.std(madrs[0][:, -1] - baseline[0]), 1.0)
            # Covariates are stored once per patient: the same patient in every arm.
            self.assertEqual(f["weight_kg"].shape, (200,))
        with h5py.File(self.same, "r") as g, h5py.File(self.no_drug, "r") as f:
            for name in ("weight_kg", "age_y", "sex"):
                np.testing.assert_array_equal(f[name][...], g[name][...])


if __name__ == "__main__":
    unittest.main(verbosity=2)
