#!/usr/bin/python3
"""The researcher-facing tools on real `ketasim run` output: figures (tools/ketasim_analysis.py
plot), the endpoint table, and the CSV export (tools/h5_to_csv.py).

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR, KETASIM_BUILD_DIR.
"""
import csv
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import xarray as xr

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("KETASIM_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(BUILD_DIR, "ketasim")
TOOLS = os.path.join(SOURCE_DIR, "tools")
PYTHON = "/usr/bin/python3"  # Debian's interpreter: the one with xarray, h5netcdf and matplotlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 10_000
MIN_WIDTH, MIN_HEIGHT = 600, 400


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, cwd=SOURCE_DIR, capture_output=True, text=True, timeout=1200, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout


def ketasim_run(config, out, *extra):
    run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", config), *extra, "-o", out, "--quiet"])


def png_size(path):
    """(width, height) from the IHDR chunk, which the PNG format puts first after the signature."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise AssertionError(f"{path} is not a PNG file")
    return struct.unpack(">II", head[16:24])


def csv_rows(path):
    """Data rows (header excluded) and the header."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return sum(1 for _ in reader), header


def expected_concentration_figures(ds):
    """Moieties with any positive concentration (full or summary) in some arm get a figure.

    For sweeps, at the first sweep point: that is where `plot` draws per-patient figures by default.
    """
    sweep = [d for d in ds["remission"].dims if d not in ("arm", "patient")]
    ds = ds.isel({d: 0 for d in sweep})
    names = set()
    for name, var in ds.data_vars.items():
        if not name.startswith("conc_") or name.endswith("_sd"):
            continue
        moiety = name[len("conc_"):].removesuffix("_mean")
        if np.nanmax(np.where(np.isnan(var.values), -1, var.values)) > 0:
            names.add(f"concentration_{moiety}.png")
    return names


class PlotsAndExportOnDefaultRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_tools_")
        cls.path = os.path.join(cls.tmp, "r.h5")
        ketasim_run("default.yaml", cls.path, "--patients", "200", "--seed", "7")
        cls.ds = xr.open_dataset(cls.path, engine="h5netcdf")

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()

    def check_pngs(self, printed, outdir, expected):
        paths = [p for p in printed.splitlines() if p.strip()]
        self.assertEqual({os.path.basename(p) for p in paths}, expected, "printed figure paths")
        self.assertEqual(set(os.listdir(outdir)), expected, "files in the output folder")
        for path in paths:
            with self.subTest(figure=os.path.basename(path)):
                self.assertTrue(os.path.isfile(path), path)
                self.assertGreater(os.path.getsize(path), MIN_PNG_BYTES, path)
                width, height = png_size(path)
                self.assertGreaterEqual(width, MIN_WIDTH, path)
                self.assertGreaterEqual(height, MIN_HEIGHT, path)

    def test_plot_writes_the_expected_figures(self):
        outdir = os.path.join(self.tmp, "figures")
        printed = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "plot", self.path, "-o", outdir])
        expected = ({"madrs_course.png", "rates_over_visits.png", "endpoints.png", "forest.png"}
                    | expected_concentration_figures(self.ds))
        self.check_pngs(printed, outdir, expected)

    def test_table_has_a_row_per_arm_with_cis(self):
        printed = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "table", self.path])
        for arm in self.ds["arm"].values:
            rows = [l for l in printed.splitlines() if l.split() and l.split()[0] == str(arm)]
            self.assertEqual(len(rows), 1, f"{arm}:\n{printed}")
            self.assertEqual(rows[0].count("%"), 2, rows[0])
            self.assertEqual(rows[0].count("["), 2, rows[0])

    def test_csv_export_row_counts(self):
        outdir = os.path.join(self.tmp, "csv")
        printed = run([PYTHON, os.path.join(TOOLS, "h5_to_csv.py"), self.path, "-o", outdir])
        written = {os.path.basename(p) for p in printed.split()}
        n_arm, n_patient, n_visit = (self.ds.sizes[d] for d in ("arm", "patient", "visit"))

        rows, header = csv_rows(os.path.join(outdir, "patients.csv"))
        self.assertEqual(rows, n_arm * n_patient)
        for column in ["arm", "patient", "weight_kg", "age_y", "sex", "status", "baseline_madrs",
                       "response", "remission"] + [n for n in self.ds.data_vars if n.startswith("pk_")]:
            self.assertIn(column, header)

        rows, header = csv_rows(os.path.join(outdir, "visits.csv"))
        self.assertEqual(rows, n_arm * n_patient * n_visit)
        self.assertEqual(header, ["arm", "patient", "visit_d", "madrs"])

        rows, _ = csv_rows(os.path.join(outdir, "endpoints.csv"))
        self.assertEqual(rows, n_arm)

        # Long-format concentrations: every (arm, moiety) pair the arm's model has (not all NaN),
        # all patients x all times.
        full = [n for n in self.ds.data_vars if n.startswith("conc_") and not n.endswith(("_mean", "_sd"))]
        if full:
            expected = sum(int(self.ds[n].sel(arm=a).notnull().any()) for n in full for a in self.ds["arm"].values)
            expected *= n_patient * self.ds.sizes["time"]
            rows, header = csv_rows(os.path.join(outdir, "concentrations.csv"))
            self.assertEqual(rows, expected)
            self.assertEqual(header, ["arm", "patient", "time_h", "moiety", "concentration_ng_per_mL"])
        else:
            self.assertNotIn("concentrations.csv", written)
        self.assertEqual(written, set(os.listdir(outdir)))


class PlotsOnSweepRun(unittest.TestCase):
    """A sweep adds the remission-vs-swept-value figure (line for 1-D, heatmap for 2-D)."""

    def test_sweep_figure(self):
        tmp = tempfile.mkdtemp(prefix="ketasim_tools_sweep_")
        path = os.path.join(tmp, "sweep.h5")
        ketasim_run("sweep.yaml", path, "--patients", "100")
        outdir = os.path.join(tmp, "figures")
        printed = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "plot", path, "-o", outdir])
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            n_sweep = len([d for d in ds["remission"].dims if d not in ("arm", "patient")])
            expected = {"madrs_course.png", "rates_over_visits.png", "endpoints.png"} | expected_concentration_figures(ds)
            if ds.sizes["arm"] > 1:
                expected.add("forest.png")
        self.assertGreaterEqual(n_sweep, 1, "sweep.yaml produced no sweep dimension")
        expected.add("sweep_remission.png" if n_sweep == 1 else "sweep_remission_heatmap.png")
        PlotsAndExportOnDefaultRun.check_pngs(self, printed, outdir, expected)


if __name__ == "__main__":
    unittest.main()
