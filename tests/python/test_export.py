#!/usr/bin/python3
"""tools/ketasim_export.py (issue 13, item 2): the export round-trips.

Reading the CSV back with plain pandas gives the doses of the regimen (written out here by hand
for configs/default.yaml, and from per-patient dose datasets added to a copy of the file with
h5py) and the concentrations and MADRS scores of the results file, read with h5py.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR, KETASIM_BUILD_DIR.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np
import pandas as pd

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("KETASIM_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(BUILD_DIR, "ketasim")
EXPORT = os.path.join(SOURCE_DIR, "tools", "ketasim_export.py")
PYTHON = "/usr/bin/python3"
TIMES = [0.0, 1.0, 2.0, 24.0, 84.0, 85.0, 600.0, 2016.0]


def run(cmd, check=True):
    proc = subprocess.run(cmd, cwd=SOURCE_DIR, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def default_sessions_h():
    """configs/default.yaml, both arms: every 3.5 d x 8 (days 0-24.5), then every 14 d from day 28
    (3.5 d after the last induction dose, as `ketasim check` prints) until day 84, exclusive."""
    induction = [84.0 * k for k in range(8)]
    maintenance = [672.0 + 336.0 * k for k in range(4)]  # 672, 1008, 1344, 1680 < 2016
    return induction + maintenance


class ExportOfDefaultRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_export_")
        cls.h5 = os.path.join(cls.tmp, "r.h5")
        run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "default.yaml"), "--patients", "30",
             "--set", "outputs.concentration=full", "--set", "outputs.batch_patients=15", "-o", cls.h5, "--quiet"])
        with h5py.File(cls.h5, "r") as f:
            cls.arms = list(f["arm"].asstr()[...])
            cls.weight = f["weight_kg"][...]
            cls.time = f["time"][...]
            cls.visit = f["visit"][...]
            cls.madrs = f["madrs"][...]
            cls.conc = {n[len("conc_"):]: f[n][...] for n in f if n.startswith("conc_") and f[n].ndim == 3}
        cls.csv = {}
        for fmt in ("nonmem", "long"):
            path = os.path.join(cls.tmp, f"{fmt}.csv")
            run([PYTHON, EXPORT, cls.h5, "--format", fmt, "-o", path, "--times", *map(str, TIMES)])
            cls.csv[fmt] = pd.read_csv(path, na_values=["."])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_pandas_reads_numeric_columns_without_renaming(self):
        for fmt, frame in self.csv.items():
            with self.subTest(fmt=fmt):
                for c in ("ID", "TIME", "EVID", "AMT", "RATE", "CMT", "MDV", "DV", "IPRED", "MADRS"):
                    self.assertIn(c, frame.columns)
                    self.assertTrue(pd.api.types.is_numeric_dtype(frame[c]), f"{c} is {frame[c].dtype}")
                self.assertEqual(frame["ID"].nunique(), len(self.arms) * 30)
                self.assertTrue((frame.groupby("ID")["TIME"].apply(lambda t: t.is_monotonic_increasing)).all())

    def test_the_expected_sessions_are_where_the_engine_dosed(self):
        """The schedule above against the simulation itself: ketamine rises in the hour after each
        session start and nowhere else on the hourly grid."""
        # On the hourly part of the axis (the default config adds dose-anchored times too).
        hourly = np.isclose(self.time, np.round(self.time))
        conc = self.conc["ketamine"][self.arms.index("iv_ketamine"), 0].astype(float)[hourly]
        time = self.time[hourly]
        rises = time[:-1][np.diff(conc) > 1e-3 * np.nanmax(conc)]
        np.testing.assert_array_equal(rises, default_sessions_h())

    def test_doses_round_trip(self):
        frame = self.csv["nonmem"]
        doses = frame[frame["EVID"] == 1]
        sessions = default_sessions_h()
        for patient in (0, 17):
            iv = doses[(doses["ARM"] == "iv_ketamine") & (doses["PATIENT"] == patient)]
            np.testing.assert_allclose(iv["TIME"], sessions)
            np.testing.assert_allclose(iv["AMT"], 0.5 * self.weight[patient], rtol=1e-9)  # 0.5 mg/kg
            np.testing.assert_allclose(iv["RATE"], 0.5 * self.weight[patient] / (40 / 60), rtol=1e-9)  # over 40 min
            nasal = doses[(doses["ARM"] == "intranasal_esketamine") & (doses["PATIENT"] == patient)]
            # Day 1: 56 mg = 2 devices; later 84 mg = 3 devices of 28 mg, 5 minutes apart.
            expected = [t + d / 12 for i, t in enumerate(sessions) for d in range(2 if i == 0 else 3)]
            np.testing.assert_allclose(nasal["TIME"], expected, atol=1e-8)
            np.testing.assert_allclose(nasal["AMT"], 28.0)
            self.assertTrue((nasal["RATE"] == 0).all())

    def test_concentrations_and_madrs_round_trip(self):
        for fmt, frame in self.csv.items():
            obs = frame[(frame["EVID"] == 0) & (frame["MDV"] == 0)]
            for a, arm in enumerate(self.arms):
                for moiety, values in self.conc.items():
                    if np.all(np.isnan(values[a])):
                        continue
                    with self.subTest(fmt=fmt, arm=arm, moiety=moiety):
                        col = [int(np.argmin(np.abs(self.time - t))) for t in TIMES]
                        rows = obs[(obs["ARM"] == arm)]
                        if fmt == "long":
                            rows = rows[rows["NAME"] == moiety]
                        else:
                            rows = rows[rows["DVID"] == self.dvid(moiety)]
                        got = rows.pivot(index="PATIENT", columns="TIME", values="IPRED").to_numpy()
                        np.testing.assert_allclose(got, values[a][:, col].astype(float), rtol=1e-7)
                        np.testing.assert_array_equal(rows["DV"], rows["IPRED"])  # no residual error yet
            compared = sum(1 for a in range(len(self.arms)) for v in self.conc.values() if not np.all(np.isnan(v[a])))
            self.assertEqual(compared, 5, "ketamine, s_ketamine, r_ketamine (IV); esketamine, noresketamine (IN)")
            madrs = frame[frame["MADRS"].notna()]
            for a, arm in enumerate(self.arms):
                block = madrs[madrs["ARM"] == arm]
                got = block.pivot(index="PATIENT", columns="TIME", values="MADRS")
                expected = self.madrs[a].astype(float)
                np.testing.assert_array_equal(got.columns.to_numpy(), 24 * self.visit[~np.all(np.isnan(expected), 0)])
                np.testing.assert_array_equal(got.to_numpy(), expected[:, ~np.all(np.isnan(expected), 0)])

    def dvid(self, moiety):
        """DVID: 1.. for the file's moieties in alphabetical order (docstring of ketasim_export.py)."""
        return sorted(self.conc).index(moiety) + 1


class ExportFromDoseDatasets(unittest.TestCase):
    """With per-patient dose datasets (dose_time_h, dose_amount_mg, dose_taken) the export uses
    them, skipping doses not taken. Built here with h5py on a copy of a real file."""

    def test_dose_datasets_win(self):
        tmp = tempfile.mkdtemp(prefix="ketasim_export_ds_")
        try:
            path = os.path.join(tmp, "r.h5")
            run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "single-infusion.yaml"), "--patients", "12",
                 "-o", path, "--quiet"])
            rng = np.random.default_rng(3)
            with h5py.File(path, "r+") as f:
                n_arm, n_pat, n_dose = f["arm"].shape[0], f["patient"].shape[0], f["dose"].shape[0]
                shape = (n_arm, n_pat, n_dose)
                times = np.cumsum(rng.uniform(20, 200, shape), axis=2)
                amounts = rng.uniform(10, 60, shape)
                taken = (rng.uniform(size=shape) > 0.3).astype(np.int8)
                for name, data in (("dose_time_h", times), ("dose_amount_mg", amounts), ("dose_taken", taken)):
                    if name in f:  # the engine writes its own; replace them with known random ones
                        del f[name]
                    ds = f.create_dataset(name, data=data)
                    for axis, dim in enumerate(("arm", "patient", "dose")):
                        ds.dims[axis].attach_scale(f[dim])
                arms = list(f["arm"].asstr()[...])
            out = os.path.join(tmp, "nm.csv")
            run([PYTHON, EXPORT, path, "-o", out, "--every", "24"])
            frame = pd.read_csv(out, na_values=["."])
            doses = frame[frame["EVID"] == 1]
            for a, arm in enumerate(arms):
                for p in range(n_pat):
                    mine = doses[(doses["ARM"] == arm) & (doses["PATIENT"] == p)]
                    keep = (taken[a, p] == 1) & (amounts[a, p] > 0)
                    np.testing.assert_allclose(mine["TIME"], times[a, p][keep])
                    np.testing.assert_allclose(mine["AMT"], amounts[a, p][keep])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
