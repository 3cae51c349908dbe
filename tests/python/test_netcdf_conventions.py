#!/usr/bin/python3
"""netCDF conventions of a default results file (issue 13, item 7).

`ncdump -h` (netCDF-C, Debian's netcdf-bin) and R's ncdf4 open a real `ketasim run` file and read
every variable and every attribute without a warning; CF text attributes are NC_CHAR, float
variables carry a NaN `_FillValue`, no attribute is a 64-bit integer, and arm names come back as
str from h5py's `.asstr()` and from xarray.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR, KETASIM_BUILD_DIR.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np
import xarray as xr
import yaml

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("KETASIM_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(BUILD_DIR, "ketasim")

CF_TEXT = ("units", "long_name", "flag_meanings", "Conventions")

# Reads every variable and every attribute (per variable and global) and every dimension's values,
# the way a user exploring the file would; R prints ncdf4's warnings with print(), so both streams
# are checked by the test, and R warnings proper are turned into errors.
NCDF4_READ_ALL = r"""
options(warn = 2)
suppressMessages(library(ncdf4))
nc <- nc_open(commandArgs(TRUE)[1])
for (v in names(nc$var)) {
  x <- ncvar_get(nc, v, collapse_degen = FALSE)
  a <- ncatt_get(nc, v)
}
for (d in names(nc$dim)) x <- nc$dim[[d]]$vals
g <- ncatt_get(nc, 0)
cat("arms:", nc$dim$arm$vals, "\n")
cat("seed:", format(g$seed, scientific = FALSE), "\n")
if ("time" %in% names(nc$dim)) cat("time_units:", ncatt_get(nc, "time", "units")$value, "\n")
nc_close(nc)
"""


def run(cmd):
    proc = subprocess.run(cmd, cwd=SOURCE_DIR, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


class DefaultResultsFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_netcdf_")
        cls.path = os.path.join(cls.tmp, "results.h5")
        cls.config = os.path.join(SOURCE_DIR, "configs", "default.yaml")
        run([KETASIM_EXE, "run", cls.config, "--patients", "40", "-o", cls.path, "--quiet"])
        with open(cls.config, encoding="utf-8") as fh:
            cls.config_arms = [a["name"] for a in yaml.safe_load(fh)["arms"]]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def float_variables(self):
        """Non-coordinate float datasets, straight from HDF5 (independent of any netCDF reader)."""
        with h5py.File(self.path, "r") as f:
            return [name for name, obj in f.items()
                    if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and obj.attrs.get("CLASS") != b"DIMENSION_SCALE"]

    def test_ncdump_header_has_no_warnings_and_netcdf_types(self):
        self.assertIsNotNone(shutil.which("ncdump"), "ncdump missing: tools/setup.sh installs netcdf-bin")
        proc = run(["ncdump", "-h", self.path])
        self.assertEqual(proc.stderr, "", "ncdump -h wrote to stderr")
        header = proc.stdout
        # NC_CHAR attributes print without a type ("x:units = ..."), NC_STRING ones as "string x:units".
        for name in CF_TEXT:
            self.assertNotRegex(header, rf"string \S*:{name} =", f"{name} is NC_STRING, not NC_CHAR")
        self.assertRegex(header, r"\ttime:units = \"h\" ;")
        self.assertRegex(header, r"\t\t:Conventions = \"CF-1.8\" ;")
        # 64-bit integer attribute values print with an LL suffix.
        self.assertIsNone(re.search(r":\w+ = [-0-9, ]+LL ;", header), "an int64 attribute remains")
        floats = self.float_variables()
        self.assertGreater(len(floats), 10)
        for name in floats:
            with self.subTest(variable=name):
                self.assertRegex(header, rf"\t\t{re.escape(name)}:_FillValue = NaNf? ;")

    def test_ncdf4_reads_everything_without_a_warning(self):
        script = os.path.join(self.tmp, "read_all.R")
        with open(script, "w") as fh:
            fh.write(NCDF4_READ_ALL)
        proc = run(["Rscript", script, self.path])
        both = proc.stdout + proc.stderr
        self.assertNotRegex(both, r"(?i)warning", both)
        self.assertIn("arms: " + " ".join(self.config_arms), proc.stdout)
        with h5py.File(self.path, "r") as f:
            seed = f.attrs["seed"]
            self.assertEqual(int(seed), int(f.attrs["seed_text"]))
        self.assertIn(f"seed: {int(seed)}", proc.stdout)
        self.assertIn("time_units: h", proc.stdout)

    def test_hdf5_types_of_attributes(self):
        """Independent of netCDF: CF text attributes fixed-length, no int64 attribute anywhere."""
        with h5py.File(self.path, "r") as f:
            objects = [("/", f)] + [(name, obj) for name, obj in f.items()]
            for name, obj in objects:
                for key in obj.attrs:
                    with self.subTest(object=name, attribute=key):
                        dtype = obj.attrs.get_id(key).dtype
                        self.assertFalse(dtype.kind == "i" and dtype.itemsize == 8, "int64 attribute")
                        info = h5py.check_string_dtype(dtype)
                        if key in CF_TEXT:
                            self.assertIsNotNone(info)
                            self.assertIsNotNone(info.length, "CF text attribute is variable-length")
            # Free text other than CF's stays variable-length UTF-8: str in h5py, verbatim.
            with open(self.config, encoding="utf-8") as fh:
                self.assertEqual(f.attrs["config_yaml"], fh.read())
            self.assertEqual(f["time"].attrs["units"], b"h")  # NC_CHAR reads as bytes in h5py

    def test_arm_names_are_str_in_h5py_and_xarray(self):
        with h5py.File(self.path, "r") as f:
            self.assertEqual(h5py.check_string_dtype(f["arm"].dtype).encoding, "utf-8")
            arms = list(f["arm"].asstr()[...])
            self.assertTrue(all(isinstance(a, str) for a in arms))
            self.assertEqual(arms, self.config_arms)
        for engine in ("h5netcdf", "netcdf4"):
            with xr.open_dataset(self.path, engine=engine) as ds:
                self.assertEqual([str(a) for a in ds["arm"].values], self.config_arms, engine)
                self.assertTrue(all(isinstance(a, str) for a in ds["arm"].values.tolist()), engine)

    def test_xarray_sees_units_as_str_and_fill_value_as_encoding(self):
        floats = self.float_variables()
        for engine in ("h5netcdf", "netcdf4"):
            with xr.open_dataset(self.path, engine=engine) as ds:
                self.assertEqual(ds["time"].attrs["units"], "h", engine)
                self.assertEqual(ds["visit"].attrs["units"], "d", engine)
                self.assertTrue(np.issubdtype(ds["time"].dtype, np.floating), engine)
                self.assertEqual(ds.attrs["Conventions"], "CF-1.8", engine)
                for name in floats:
                    with self.subTest(engine=engine, variable=name):
                        self.assertIsInstance(ds[name].attrs["units"], str)
                        self.assertTrue(np.isnan(ds[name].encoding["_FillValue"]))
                # NaN stays NaN (fill masking must not turn data into something else).
                with h5py.File(self.path, "r") as f:
                    raw = f["pk_CL"][...]
                np.testing.assert_array_equal(np.isnan(ds["pk_CL"].values), np.isnan(raw))


class SweepResultsFile(unittest.TestCase):
    """Sweep dimensions (numeric coordinates with units) follow the same conventions."""

    def test_ncdump_and_ncdf4_are_silent(self):
        tmp = tempfile.mkdtemp(prefix="ketasim_netcdf_sweep_")
        try:
            path = os.path.join(tmp, "sweep.h5")
            run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "sweep.yaml"), "--patients", "20", "-o", path,
                 "--quiet"])
            proc = run(["ncdump", "-h", path])
            self.assertEqual(proc.stderr, "")
            self.assertIn('\t\tdose_mg_per_kg:units = "mg/kg" ;', proc.stdout)
            script = os.path.join(tmp, "read_all.R")
            with open(script, "w") as fh:
                fh.write(NCDF4_READ_ALL)
            proc = run(["Rscript", script, path])
            self.assertNotRegex(proc.stdout + proc.stderr, r"(?i)warning")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
