#!/usr/bin/python3
"""`ketasim optimize` end to end (issue 15): the shipped example runs, its file opens in xarray, and
everything stored is consistent with an independent numpy recomputation (Pareto front, best and
runner-up, cost ratios, constraint flags from the scheduled sessions); the figures are drawn from
the file; `check` and `optimize` refuse the same bad blocks with exit 1 and the line.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import tempfile
import unittest

import numpy as np
import xarray as xr

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
CONFIG = os.path.join(SOURCE_DIR, "configs", "optimize.yaml")


def ketasim(*args):
    return subprocess.run([KETASIM_EXE, *args], capture_output=True, text=True, timeout=600)


class OptimizeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_optimize_")
        cls.out = os.path.join(cls.tmp.name, "opt.h5")
        cls.proc = ketasim("optimize", CONFIG, "--patients", "120", "--quiet", "-o", cls.out)
        assert cls.proc.returncode == 0, cls.proc.stderr
        cls.ds = xr.open_dataset(cls.out, engine="h5netcdf")

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()
        cls.tmp.cleanup()

    def test_nothing_but_the_results_file_is_left(self):
        self.assertEqual([n for n in os.listdir(self.tmp.name) if n.startswith("opt")], ["opt.h5"])

    def test_candidates_and_decision_variables(self):
        ds = self.ds
        self.assertEqual(ds.sizes["candidate"], 4 * 3 * 3)
        self.assertEqual(sorted(set(ds["scenario"].values.tolist())),
                         ["esketamine_56mg", "esketamine_84mg", "iv_ketamine_0.5mg_per_kg", "iv_ketamine_1mg_per_kg"])
        self.assertEqual(ds["maintenance_interval_d"].attrs["units"], "d")
        self.assertEqual(sorted(set(ds["induction_sessions"].values.tolist())), [4, 6, 8])

    def test_feasibility_follows_the_scheduled_sessions(self):
        # Induction `count` sessions 3.5 d apart; maintenance starts one induction interval after the
        # last induction session (docs/config.md: a phase starts when the previous phase's period
        # ends) and runs while t < 84 d; counted to day 84 inclusive (the constraint's window).
        ds = self.ds
        for c in range(ds.sizes["candidate"]):
            n_ind = int(ds["induction_sessions"][c])
            every = float(ds["maintenance_interval_d"][c])
            times = [3.5 * k for k in range(n_ind)]
            t = times[-1] + 3.5
            while t < 84 - 1e-9:
                times.append(t)
                t += every
            scheduled = sum(1 for t in times if t <= 84)
            self.assertEqual(float(ds["sessions_scheduled"][c]), scheduled)
            self.assertEqual(int(ds["feasible"][c]), int(scheduled <= 14))

    def test_best_runner_up_and_pareto_front_recomputed(self):
        ds = self.ds
        feasible = ds["feasible"].values == 1
        objective = ds["objective"].values
        self.assertEqual(ds.attrs["objective"], "remission")
        np.testing.assert_array_equal(objective, ds["remission_rate"].values)
        # Highest objective among feasible candidates, ties to the first.
        order = [c for c in np.argsort(-objective, kind="stable") if feasible[c]]
        self.assertEqual(int(np.flatnonzero(ds["is_best"].values)[0]), order[0])
        self.assertEqual(ds.attrs["best"], str(ds["candidate"].values[order[0]]))
        self.assertEqual(ds.attrs["runner_up"], str(ds["candidate"].values[order[1]]))
        rem, cost = ds["remission_rate"].values, ds["cost_per_patient"].values
        for c in range(len(rem)):
            if not feasible[c]:
                self.assertEqual(int(ds["pareto"][c]), 0)
                continue
            dominated = any(feasible[d] and d != c and rem[d] >= rem[c] and cost[d] <= cost[c] and
                            (rem[d] > rem[c] or cost[d] < cost[c]) for d in range(len(rem)))
            self.assertEqual(int(ds["pareto"][c]), int(not dominated), str(ds["candidate"].values[c]))
        p = float(ds.attrs["probability_best_beats_runner_up"])
        self.assertTrue(0.0 <= p <= 1.0)

    def test_costs_and_intervals(self):
        ds = self.ds
        np.testing.assert_allclose(ds["cost_per_remission"], ds["cost_per_patient"] / ds["remission_rate"], rtol=1e-12)
        np.testing.assert_allclose(ds["cost_per_remission_week"],
                                   ds["cost_per_patient"] / (ds["days_in_remission"] / 7.0), rtol=1e-12)
        self.assertTrue(np.all(ds["objective_lower"] <= ds["objective"]))
        self.assertTrue(np.all(ds["objective"] <= ds["objective_upper"]))
        # IV sessions: drug 10 + clinic 400 + monitoring 50 per session, 100 per visit attended
        # after day 0 (9 visits, nobody drops out): the cost is an exact function of sessions taken.
        iv = np.array([str(s).startswith("iv_") for s in ds["scenario"].values])
        np.testing.assert_allclose(ds["cost_per_patient"].values[iv],
                                   460 * ds["sessions_taken"].values[iv] + 900, rtol=1e-12)
        self.assertEqual(ds.attrs["currency"], "USD")
        self.assertIn("EXAMPLE", ds.attrs["costs_note"])

    def test_printed_table_and_provenance(self):
        out = self.proc.stdout
        self.assertIn("Best: " + self.ds.attrs["best"], out)
        self.assertIn("on fresh patients (seed 20261203)", out)
        self.assertIn("Probability the best beats the runner-up", out)
        self.assertIn("optimize:", self.ds.attrs["config_yaml"])

    def test_figures(self):
        figs = os.path.join(self.tmp.name, "figs")
        proc = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "tools", "ketasim_analysis.py"), "optimize",
                               self.out, "-o", figs], capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        paths = proc.stdout.split()
        self.assertEqual([os.path.basename(p) for p in paths], ["optimize_pareto.png", "optimize_objective.png"])
        for p in paths:
            self.assertGreater(os.path.getsize(p), 20000)
        import matplotlib.image
        self.assertGreater(matplotlib.image.imread(paths[0]).shape[1], 800)

    def test_bad_blocks_are_refused_by_check_and_optimize_alike(self):
        cases = [("optimize.objective=happiness", "optimize.objective"),
                 ("optimize.arm=nobody", "optimize.arm"),
                 ("optimize.constraints.max_sessions=2", "no candidate meets the constraints"),
                 ("optimize.candidates.grid.0.values=[]", "at least one value"),
                 ("optimize.fresh_seed=20261202", "must differ from study.seed")]
        for override, fragment in cases:
            results = []
            for command in ("check", "optimize"):
                proc = ketasim(command, CONFIG, "--set", override, "-q", *(["-o", os.path.join(self.tmp.name, "x.h5")]
                                                                          if command == "optimize" else []))
                self.assertEqual(proc.returncode, 1, f"{command} {override}: {proc.stderr}")
                self.assertIn(fragment, proc.stderr)
                self.assertIn("optimize.yaml", proc.stderr)
                results.append(proc.stderr)
            self.assertEqual(results[0], results[1])
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "x.h5")))


SEARCH_CONFIG = os.path.join(SOURCE_DIR, "configs", "optimize-search.yaml")


class SearchTest(unittest.TestCase):
    """The continuous search example (`optimize.search`, NLopt over a lattice), checked from the file."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_search_")
        cls.out = os.path.join(cls.tmp.name, "search.h5")
        cls.proc = ketasim("optimize", SEARCH_CONFIG, "--patients", "120", "--quiet", "-o", cls.out)
        assert cls.proc.returncode == 0, cls.proc.stderr
        cls.ds = xr.open_dataset(cls.out, engine="h5netcdf")

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()
        cls.tmp.cleanup()

    def test_candidates_are_distinct_lattice_points_within_the_budget(self):
        ds = self.ds
        self.assertEqual(ds.attrs["search_method"], "nlopt")
        self.assertEqual(ds.attrs["search_algorithm"], "GN_DIRECT_L")
        budget = int(ds.attrs["search_max_evaluations"])
        ind, every = ds["induction_sessions"].values, ds["maintenance_interval_d"].values
        self.assertEqual(ds["maintenance_interval_d"].attrs["units"], "d")
        np.testing.assert_array_equal(ind, np.round(ind))  # step 1 from 4
        np.testing.assert_array_equal(every, np.round(every))  # step 1 d from 7 d
        self.assertTrue(np.all((ind >= 4) & (ind <= 10)) and np.all((every >= 7) & (every <= 28)))
        scenarios = [str(s) for s in ds["scenario"].values]
        self.assertEqual(list(dict.fromkeys(scenarios)), ["iv_ketamine_0.5mg_per_kg", "esketamine_84mg"])
        for name in dict.fromkeys(scenarios):
            rows = [c for c, s in enumerate(scenarios) if s == name]
            self.assertEqual(rows, list(range(rows[0], rows[-1] + 1)))  # each scenario's search in one block
            self.assertLessEqual(len(rows), budget)
            self.assertGreater(len(rows), 5)
            points = {(ind[c], every[c]) for c in rows}
            self.assertEqual(len(points), len(rows))  # no lattice point simulated twice
            np.testing.assert_array_equal(ds["search_step"].values[rows], np.arange(len(rows)))
            for c in rows:
                self.assertEqual(str(ds["candidate"].values[c]),
                                 f"scenario={name} induction_sessions={ind[c]:g} maintenance_interval_d={every[c]:g}")

    def test_best_is_the_cheapest_feasible_remission_and_feasibility_is_the_schedule(self):
        ds = self.ds
        for c in range(ds.sizes["candidate"]):
            times = [3.5 * k for k in range(int(ds["induction_sessions"][c]))]
            t = times[-1] + 3.5
            while t < 84 - 1e-9:
                times.append(t)
                t += float(ds["maintenance_interval_d"][c])
            self.assertEqual(int(ds["feasible"][c]), int(sum(1 for t in times if t <= 84) <= 14))
        objective = ds["objective"].values
        np.testing.assert_allclose(objective, ds["cost_per_patient"] / ds["remission_rate"], rtol=1e-12)
        feasible = ds["feasible"].values == 1
        order = [c for c in np.argsort(objective, kind="stable") if feasible[c]]
        self.assertEqual(int(np.flatnonzero(ds["is_best"].values)[0]), order[0])
        self.assertEqual(ds.attrs["best"], str(ds["candidate"].values[order[0]]))
        self.assertIn("Search: NLopt GN_DIRECT_L", self.proc.stdout)

    def test_figures_from_the_search(self):
        figs = os.path.join(self.tmp.name, "figs")
        proc = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE_DIR, "tools", "ketasim_analysis.py"), "optimize",
                               self.out, "-o", figs], capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual([os.path.basename(p) for p in proc.stdout.split()],
                         ["optimize_pareto.png", "optimize_objective.png"])

    def test_bad_search_blocks_are_refused_by_check_and_optimize_alike(self):
        cases = [("optimize.search.algorithm=LN_BOBYQA", "optimize.search.algorithm"),
                 ("optimize.search.variables.1.range=[28d, 28d]", "empty range"),
                 ("optimize.search.method=annealing", "optimize.search.method"),
                 ("optimize.search.variables.0.key=regimen.no_such_key", "no_such_key")]
        for override, fragment in cases:
            results = []
            for command in ("check", "optimize"):
                proc = ketasim(command, SEARCH_CONFIG, "--set", override, "-q",
                               *(["-o", os.path.join(self.tmp.name, "x.h5")] if command == "optimize" else []))
                self.assertEqual(proc.returncode, 1, f"{command} {override}: {proc.stderr}")
                self.assertIn(fragment, proc.stderr)
                self.assertIn("optimize-search.yaml:", proc.stderr)
                results.append(proc.stderr)
            self.assertEqual(results[0], results[1])
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "x.h5")))


if __name__ == "__main__":
    unittest.main()
