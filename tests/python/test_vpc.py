#!/usr/bin/python3
"""`ketasim_analysis.py vpc` against the shipped synthetic observed data (issue 13, item 4).

The observed percentiles drawn are recomputed here from the CSV with numpy (time after dose
from the file's own dose rows, one bin per nominal time); the simulated median's 95% CI must
contain the median of all simulated patients sampled at the observed times; the command writes
the figure in each format.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR, KETASIM_BUILD_DIR.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
import pandas as pd

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("KETASIM_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(BUILD_DIR, "ketasim")
TOOLS = os.path.join(SOURCE_DIR, "tools")
PYTHON = "/usr/bin/python3"
OBSERVED = os.path.join(SOURCE_DIR, "tests", "data", "vpc", "observed-esketamine-synthetic.csv")
ARM = "intranasal_esketamine"
sys.path.insert(0, TOOLS)
import ketasim_analysis as ka  # noqa: E402


def run(cmd, check=True):
    proc = subprocess.run(cmd, cwd=SOURCE_DIR, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def observed_by_tad():
    """{tad: DV values} from the CSV: a sample's time after dose counts from the latest dose row
    strictly before it (a sample at a dose time is pre-dose)."""
    data = pd.read_csv(OBSERVED, na_values=["."])
    out = {}
    for _, rows in data.groupby("ID"):
        doses = rows.loc[rows["EVID"] == 1, "TIME"].to_numpy()
        for _, r in rows[rows["EVID"] == 0].iterrows():
            tad = r["TIME"] - doses[doses < r["TIME"]].max()
            out.setdefault(round(tad, 6), []).append((r["ID"], r["TIME"], r["DV"]))
    return dict(sorted(out.items()))


class VisualPredictiveCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_vpc_")
        cls.h5 = os.path.join(cls.tmp, "sim.h5")
        # batch_patients = cohort / 2: independent of how the engine chunks a cohort smaller than a batch.
        run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "default.yaml"), "--patients", "300",
             "--seed", "7", "--set", "outputs.concentration=full", "--set", "outputs.batch_patients=150",
             "-o", cls.h5, "--quiet"])
        cls.ds = ka.load(cls.h5)
        cls.observed = ka.read_observed(OBSERVED)
        cls.fig = ka.figure_vpc(cls.ds, cls.observed, "esketamine", ka.PlotOptions(log_y=True))
        cls.ax = [a for a in cls.fig.axes if a.get_title() == ARM][0]
        cls.by_tad = observed_by_tad()

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def line(self, label):
        found = [l for l in self.ax.get_lines() if l.get_label() == label]
        self.assertEqual(len(found), 1, label)
        return found[0]

    def test_observed_percentiles_per_nominal_time_after_dose(self):
        tads = np.array(list(self.by_tad))
        self.assertEqual(tads.tolist(), [1, 2, 3, 4, 6, 8, 12, 24, 84])  # the example's design
        for q, label in ((5, "observed 5th"), (50, "observed median"), (95, "observed 95th")):
            expected = [np.percentile([dv for _, _, dv in self.by_tad[t]], q) for t in tads]
            line = self.line(label)
            np.testing.assert_allclose(line.get_xdata(), tads)
            np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
        self.assertEqual(self.ax.get_yscale(), "log")

    def test_simulated_median_ci_covers_the_whole_cohort_median(self):
        with h5py.File(self.h5, "r") as f:
            a = list(f["arm"].asstr()[...]).index(ARM)
            conc = f["conc_esketamine"][a].astype(float)
            grid = f["time"][...]
        stats = ka.vpc_statistics(self.ds, self.observed, ARM, "esketamine")
        for b, (tad, samples) in enumerate(self.by_tad.items()):
            cols = [int(np.argmin(np.abs(grid - t))) for _, t, _ in samples]
            cohort_median = np.median(conc[:, cols])
            with self.subTest(tad=tad):
                self.assertLessEqual(stats["sim_lo"][1][b], cohort_median)
                self.assertGreaterEqual(stats["sim_hi"][1][b], cohort_median)
                self.assertLess(stats["sim_lo"][0][b], stats["sim_hi"][2][b])
        # The band drawn is the statistic computed.
        bands = [c for c in self.ax.collections if c.get_label() == "simulated median: 95% CI"]
        self.assertEqual(len(bands), 1)
        v = bands[0].get_paths()[0].vertices
        n = len(self.by_tad)
        np.testing.assert_allclose(v[1:n + 1, 1], stats["sim_lo"][1])

    def test_command_writes_each_format(self):
        for fmt, signature in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
            outdir = os.path.join(self.tmp, fmt)
            printed = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "vpc", self.h5, "--observed", OBSERVED,
                           "--moiety", "esketamine", "--log-y", "--format", fmt, "-o", outdir]).stdout.split()
            self.assertEqual([os.path.basename(p) for p in printed], [f"vpc_esketamine.{fmt}"])
            with open(printed[0], "rb") as fh:
                self.assertEqual(fh.read(len(signature)), signature)
            self.assertGreater(os.path.getsize(printed[0]), 10_000)

    def test_simulated_dv_with_residual_error_is_used_when_stored(self):
        # The same run with DV at the observed sampling times: the VPC samples dv_esketamine (with
        # the model file's residual error) instead of the noise-free curve, so its simulated
        # 5th-95th spread is wider in every bin (log-additive error of 27.6% on top of the
        # between-patient spread), and the observed percentiles drawn are unchanged.
        times = sorted(set(t for rows in self.by_tad.values() for _, t, _ in rows))
        h5 = os.path.join(self.tmp, "dv.h5")
        run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "default.yaml"), "--patients", "300",
             "--seed", "7", "--set", "outputs.concentration=full", "--set", "outputs.batch_patients=150",
             "--set", "outputs.sampling_times=[" + ", ".join(f"{t:g}h" for t in times) + "]", "-o", h5, "--quiet"])
        with ka.load(h5) as ds:
            self.assertEqual(ka.vpc_source(ds, "esketamine"), ("dv_esketamine", "sample_time"))
            with_error = ka.vpc_statistics(ds, self.observed, ARM, "esketamine", replicates=100)
        without = ka.vpc_statistics(self.ds, self.observed, ARM, "esketamine", replicates=100)
        np.testing.assert_array_equal(with_error["obs"], without["obs"])
        spread_with = with_error["sim_mid"][2] - with_error["sim_mid"][0]
        spread_without = without["sim_mid"][2] - without["sim_mid"][0]
        self.assertTrue(np.all(spread_with > spread_without), (spread_with, spread_without))

    def test_bad_observed_files_are_explained(self):
        bad = os.path.join(self.tmp, "bad.csv")
        pd.DataFrame({"ID": [1], "TIME": [1.0]}).to_csv(bad, index=False)
        proc = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "vpc", self.h5, "--observed", bad,
                    "-o", self.tmp], check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("DV", proc.stderr)
        no_arm = os.path.join(self.tmp, "no_arm.csv")
        pd.read_csv(OBSERVED).drop(columns="ARM").to_csv(no_arm, index=False)
        proc = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "vpc", self.h5, "--observed", no_arm,
                    "--moiety", "esketamine", "-o", self.tmp], check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("--arms", proc.stderr)
        run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "vpc", self.h5, "--observed", no_arm,
             "--moiety", "esketamine", "--arms", ARM, "-o", os.path.join(self.tmp, "no_arm")])


if __name__ == "__main__":
    unittest.main()
