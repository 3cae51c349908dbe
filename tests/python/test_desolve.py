#!/usr/bin/python3
"""deSolve (R, Debian r-cran-desolve), run as benchmarks/p1_desolve.R, computes the same workload P1
as ketasim: the benchmark's second peer (issue 12) is only a fair comparison if it solves the same
problem.

The script re-implements P1 from the shared definition, independently of ketasim's code: the
population file's first rows, the allometric parameter model with the file's ETAs, 0.5 mg/kg over
40 min every 14 days x 6, the 3-compartment ODEs in C, CP = central / V1 x 1000 every hour. Here it
runs at LSODA rtol 1e-10, atol 1e-12 (the benchmark uses 1e-6 and 1e-8, the shared README's peer
setting), so that a difference shows the workload, not the solver's tolerance.

Tolerance, as the mrgsolve oracle's (docs/testing.md): |ketasim - deSolve| <= 1e-5 |deSolve| +
1e-6 ng/mL. ketasim stores float32 (6e-8 relative); LSODA at 1e-10 adds ~1e-9; the absolute part
covers the troughs (~1e-12 ng/mL before each dose). A 1% error in one parameter, a dose off by one
hour or a wrong weight scaling moves concentrations far more.

Skipped, with the reason, when R cannot load deSolve or cannot compile the model (tools/setup.sh
installs r-cran-desolve; R CMD SHLIB needs gcc, which the build needs anyway).

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
SCRIPT = os.path.join(SOURCE_DIR, "benchmarks", "p1_desolve.R")
POPULATION = os.path.realpath(os.path.join(SOURCE_DIR, "..", "shared", "benchmarks", "p1_population_10000.csv"))
PATIENTS = 5
GRID_POINTS = 2017
RTOL = 1e-5
ATOL = 1e-6


class DesolvePeer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = r_package_missing("deSolve")
        if why:
            raise unittest.SkipTest(f"deSolve peer check skipped: {why} (tools/setup.sh installs r-cran-desolve)")
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        results = os.path.join(tmp, "results.h5")
        out_csv = os.path.join(tmp, "desolve.csv")
        run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "p1-benchmark.yaml"),
             "--patients", str(PATIENTS), "-o", results, "--quiet"])
        with h5py.File(results, "r") as f:
            cls.ids = f["patient_id"][:].astype(float)
            cls.status = f["status"][0, :]
            cls.times = f["time"][:].astype(float)
            cls.stored = f["conc_ketamine"][0, :, :].astype(float)  # (arm, patient, time): one arm
        cls.r = run(["Rscript", SCRIPT, POPULATION, str(PATIENTS), out_csv, os.path.join(tmp, "cache"),
                     "1e-10", "1e-12"])
        with open(out_csv) as f:
            rows = list(csv.DictReader(f))
        cls.peer = {k: np.array([float(r[k]) for r in rows]) for k in ("ID", "time", "CP")}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_same_individuals_and_grid(self):
        self.assertTrue((self.status == 0).all())
        self.assertEqual(self.peer["ID"].size, PATIENTS * GRID_POINTS)
        np.testing.assert_array_equal(self.times, np.arange(GRID_POINTS, dtype=float))
        for p, patient_id in enumerate(self.ids):
            np.testing.assert_array_equal(self.peer["time"][self.peer["ID"] == patient_id], self.times)

    def test_desolve_reproduces_ketasim(self):
        cp = np.stack([self.peer["CP"][self.peer["ID"] == patient_id] for patient_id in self.ids])
        self.assertGreater(cp.max(), 100.0, "the doses reached deSolve's model")
        err = np.abs(self.stored - cp)
        bound = RTOL * np.abs(cp) + ATOL
        above = cp > 1e-3
        worst = np.unravel_index(int(np.argmax(err / bound)), err.shape)
        print(f"deSolve vs ketasim: {cp.size} points, max |diff| {err.max():.3g} ng/mL, max relative "
              f"{np.max(err[above] / cp[above]):.3g} where deSolve > 1e-3 ng/mL, max |diff|/bound "
              f"{np.max(err / bound):.3g}; worst at patient {worst[0]} hour {worst[1]} "
              f"(ketasim {self.stored[worst]:.7g}, deSolve {cp[worst]:.7g})")
        self.assertTrue((err <= bound).all(), f"{int((err > bound).sum())} points outside RTOL {RTOL} + ATOL {ATOL}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
