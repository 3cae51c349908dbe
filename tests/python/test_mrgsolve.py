#!/usr/bin/python3
"""mrgsolve (R) reads ketasim's NONMEM-style export and, as an independent ODE solver, reproduces
ketasim's concentrations for the same individuals (issue 13: "mrgsolve reads the export").

Optional: mrgsolve is not packaged in Debian. Without it (`Rscript -e 'library(mrgsolve)'`
fails) the test is skipped with a message; docs/testing.md says how to install it from source.

Steps:
  1. `ketasim run configs/p1-benchmark.yaml --patients 4` (P1: 3-compartment linear model, 0.5 mg/kg
     over 40 min every 14 days x 6, hourly concentrations 0-2016 h; the first 4 patients of the
     shared population file).
  2. `tools/ketasim_export.py results.h5 --format nonmem -o sim.csv` (unchanged tool output).
  3. tests/data/mrgsolve/oracle.R reads sim.csv as written ("." = missing), checks the columns
     mrgsolve needs (ID, TIME, EVID, AMT, RATE, CMT; numeric; sorted by ID and TIME; doses with AMT
     and RATE), joins each individual's stored PK parameters (pk_CL, pk_V1, ... of the results
     file) by ID and simulates the exported dose records with its own model code (mcode: the same
     3-compartment ODEs written out by hand, LSODA, rtol 1e-10, atol 1e-12).
  4. Every exported concentration (DVID 1) must equal mrgsolve's at the same ID and TIME within
     |ketasim - mrgsolve| <= RTOL * |mrgsolve| + ATOL.

Tolerance: ketasim stores concentrations as float32 (relative rounding 6e-8) and integrates this
linear model by its own method; mrgsolve's LSODA at rtol 1e-10 adds ~1e-9 relative error. RTOL = 1e-5
leaves two orders of magnitude over both, while a 1% error in any one parameter or a dose off by
one output step shifts concentrations by far more than 1e-5. ATOL = 1e-6 ng/mL covers the pre-dose
zero at TIME 0 and the troughs: P1 clears within days (CL 75 L/h), so concentrations peak at ~200
ng/mL and fall to ~1e-12 ng/mL before the next dose, where mrgsolve's values are at the level of its
atol (they reach -2e-12) and relative differences mean nothing. Measured on 2026-12-02 (mrgsolve
1.0.0): largest |difference| 4.4e-6 ng/mL (at the peaks: float32 rounding), largest
|difference| / bound 0.005.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR, KETASIM_BUILD_DIR.
"""
import csv
import os
import tempfile
import unittest

import h5py
import numpy as np

from r_peers import r_package_missing, run

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("KETASIM_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(BUILD_DIR, "ketasim")
EXPORT = os.path.join(SOURCE_DIR, "tools", "ketasim_export.py")
ORACLE_R = os.path.join(SOURCE_DIR, "tests", "data", "mrgsolve", "oracle.R")
PATIENTS = 4
GRID_POINTS = 2017
RTOL = 1e-5
ATOL = 1e-6


class MrgsolveOracle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = r_package_missing("mrgsolve")
        if why:
            raise unittest.SkipTest(f"mrgsolve oracle skipped: {why} (optional peer tool; "
                                    "docs/testing.md: 'mrgsolve oracle' says how to install it)")
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        results = os.path.join(tmp, "results.h5")
        cls.sim_csv = os.path.join(tmp, "sim.csv")
        params_csv = os.path.join(tmp, "params.csv")
        cls.out_csv = os.path.join(tmp, "mrgsolve.csv")
        run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "p1-benchmark.yaml"),
             "--patients", str(PATIENTS), "-o", results, "--quiet"])
        run(["/usr/bin/python3", EXPORT, results, "--format", "nonmem", "-o", cls.sim_csv])
        with h5py.File(results, "r") as f:
            names = sorted(k[3:] for k in f if k.startswith("pk_"))
            cls.params = {n: f["pk_" + n][0, :].astype(float) for n in names}  # (arm, patient): one arm
            cls.status = f["status"][0, :]
            cls.stored = f["conc_ketamine"][0, :, :].astype(float)  # (arm, patient, time)
        with open(params_csv, "w") as f:
            f.write(",".join(["ID"] + names) + "\n")
            for p in range(PATIENTS):  # one arm, no sweep: ID = patient + 1 (ketasim_export.py)
                f.write(",".join([str(p + 1)] + [repr(cls.params[n][p]) for n in names]) + "\n")
        cls.r = run(["Rscript", ORACLE_R, cls.sim_csv, params_csv, cls.out_csv])
        with open(cls.out_csv) as f:
            rows = list(csv.DictReader(f))
        cls.mrg = {k: np.array([float(r[k]) for r in rows]) for k in ("ID", "TIME", "CP", "IPRED")}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_individual_parameters_are_the_models(self):
        self.assertEqual(sorted(self.params), ["CL", "Q2", "Q3", "V1", "V2", "V3"])
        self.assertTrue((self.status == 0).all())
        self.assertGreater(np.ptp(self.params["CL"]), 0, "patients should differ (BSV on CL)")

    def test_every_concentration_record_simulated(self):
        self.assertEqual(self.mrg["ID"].size, PATIENTS * GRID_POINTS)
        for p in range(PATIENTS):
            t = self.mrg["TIME"][self.mrg["ID"] == p + 1]
            np.testing.assert_array_equal(t, np.arange(GRID_POINTS, dtype=float))

    def test_carried_ipred_is_the_stored_concentration(self):
        for p in range(PATIENTS):
            ipred = self.mrg["IPRED"][self.mrg["ID"] == p + 1]
            np.testing.assert_allclose(ipred, self.stored[p], rtol=1e-7, atol=0)

    def test_mrgsolve_reproduces_ketasim(self):
        cp, ipred = self.mrg["CP"], self.mrg["IPRED"]
        self.assertGreater(cp.max(), 100.0, "the doses reached mrgsolve's model")
        err = np.abs(ipred - cp)
        bound = RTOL * np.abs(cp) + ATOL
        worst = int(np.argmax(err / bound))
        above = cp > 1e-3
        print(f"mrgsolve vs ketasim: {cp.size} points, max |diff| {err.max():.3g} ng/mL, max relative "
              f"{np.max(err[above] / cp[above]):.3g} where mrgsolve > 1e-3 ng/mL, max |diff|/bound "
              f"{np.max(err / bound):.3g}; "
              f"worst at ID {self.mrg['ID'][worst]:g} TIME {self.mrg['TIME'][worst]:g} h "
              f"(ketasim {ipred[worst]:.7g}, mrgsolve {cp[worst]:.7g})")
        self.assertTrue((err <= bound).all(),
                        f"{int((err > bound).sum())} points outside RTOL {RTOL} + ATOL {ATOL}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
