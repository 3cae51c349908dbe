#!/usr/bin/python3
"""The figures of tools/ketasim_analysis.py show the file's data (issue 13, item 5).

Every figure is built from a real `ketasim run` and its plotted data (line y-values, band edges,
bar heights, heatmap cells, forest points) are compared with a computation made here with numpy on
the arrays read through h5py, or with the differences `ketasim run` itself printed. The command
line is checked for each output format, `--arms`, `--log-y` and `--time-window`.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR, KETASIM_BUILD_DIR.
"""
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import warnings

import h5py
import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("KETASIM_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(BUILD_DIR, "ketasim")
TOOLS = os.path.join(SOURCE_DIR, "tools")
PYTHON = "/usr/bin/python3"
sys.path.insert(0, TOOLS)
import ketasim_analysis as ka  # noqa: E402

import matplotlib  # noqa: E402
matplotlib.use("Agg")
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

Z = 1.959963984540054


def run(cmd, check=True):
    proc = subprocess.run(cmd, cwd=SOURCE_DIR, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def wilson(k, n):
    """Wilson score interval, written out here independently of the tool."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return 100 * p, 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def panels(fig):
    """{title: axes} for the visible axes with a title."""
    return {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}


def line(ax, label):
    found = [l for l in ax.get_lines() if l.get_label() == label]
    if len(found) != 1:
        raise AssertionError(f"{len(found)} lines labelled {label!r} in panel {ax.get_title()!r}")
    return found[0]


def band_edges(ax, n):
    """(lower, upper) y-values of the single fill_between band of a panel with n x-points."""
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    if len(bands) != 1:
        raise AssertionError(f"{len(bands)} bands in panel {ax.get_title()!r}")
    v = bands[0].get_paths()[0].vertices
    # fill_between's polygon: start point, the lower curve left to right, the upper curve back.
    return v[1:n + 1, 1], v[n + 2:2 * n + 2, 1][::-1]


class Fixture:
    """One real run of each kind, shared by the test classes."""
    tmp = None

    @classmethod
    def make(cls):
        if cls.tmp:
            return cls
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_figures_")
        cls.full = os.path.join(cls.tmp, "full.h5")
        cls.printed = run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "default.yaml"), "--patients", "150",
                           "--seed", "11", "--set", "outputs.concentration=full",
                           # A cohort smaller than a batch (default 256) is stored shifted in 0900520's
                           # engine; 75-patient batches keep the data right whatever the engine does.
                           "--set", "outputs.batch_patients=75", "-o", cls.full, "--quiet"]).stdout
        cls.summary = os.path.join(cls.tmp, "summary.h5")
        run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "default.yaml"), "--patients", "60",
             "-o", cls.summary, "--quiet"])
        cls.sweep = os.path.join(cls.tmp, "sweep.h5")
        run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "sweep.yaml"), "--patients", "80",
             "-o", cls.sweep, "--quiet"])
        cls.sweep1d = os.path.join(cls.tmp, "sweep1d.h5")
        run([PYTHON, os.path.join(TOOLS, "make_example_results.py"), cls.sweep1d, "--sweep", "1d"])
        return cls


def read(path, name):
    with h5py.File(path, "r") as f:
        return f[name][...]


def arms_of(path):
    with h5py.File(path, "r") as f:
        return list(f["arm"].asstr()[...])


class ConcentrationFigures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture.make()
        cls.ds = ka.load(cls.fx.full)

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()

    def expected_percentiles(self, moiety, arm):
        a = arms_of(self.fx.full).index(arm)
        conc = read(self.fx.full, f"conc_{moiety}")[a].astype(float)
        ok = read(self.fx.full, "status")[a] == 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanpercentile(conc[ok], [5, 50, 95], axis=0)

    def test_one_panel_per_arm_with_median_and_band_from_the_file(self):
        t = read(self.fx.full, "time")
        for moiety, arm in (("esketamine", "intranasal_esketamine"), ("ketamine", "iv_ketamine")):
            with self.subTest(moiety=moiety):
                fig = ka.figure_concentration(self.ds, moiety, ka.PlotOptions())
                p = panels(fig)
                self.assertEqual(list(p), [arm], "one panel per arm that has the moiety")
                p5, p50, p95 = self.expected_percentiles(moiety, arm)
                median = line(p[arm], "median")
                np.testing.assert_allclose(median.get_ydata(), p50, rtol=1e-6, atol=1e-9)
                np.testing.assert_allclose(median.get_xdata(), t / 24.0)  # 84 days: axis in days
                lo, hi = band_edges(p[arm], t.size)
                np.testing.assert_allclose(lo, p5, rtol=1e-6, atol=1e-9)
                np.testing.assert_allclose(hi, p95, rtol=1e-6, atol=1e-9)
                self.assertEqual(to_hex(median.get_color()), ka.arm_colors(self.ds)[arm].lower())

    def test_time_window_and_log_axis(self):
        t = read(self.fx.full, "time")
        fig = ka.figure_concentration(self.ds, "esketamine", ka.PlotOptions(time_window=(24 * 7, 24 * 7 + 24), log_y=True))
        ax = panels(fig)["intranasal_esketamine"]
        inside = (t >= 168) & (t <= 192)
        median = line(ax, "median")
        np.testing.assert_allclose(median.get_xdata(), t[inside])  # a one-day window: hours
        np.testing.assert_allclose(median.get_ydata(), self.expected_percentiles("esketamine", "intranasal_esketamine")[1][inside],
                                   rtol=1e-6, atol=1e-9)
        self.assertEqual(ax.get_yscale(), "log")
        self.assertIn("(h)", ax.get_xlabel())

    def test_summary_file_shows_the_mean_and_says_percentiles_need_full(self):
        with ka.load(self.fx.summary) as ds:
            fig = ka.figure_concentration(ds, "ketamine", ka.PlotOptions())
        ax = panels(fig)["iv_ketamine"]
        mean = line(ax, "mean")
        np.testing.assert_allclose(mean.get_ydata(), read(self.fx.summary, "conc_ketamine_mean")[0])
        self.assertEqual([c for c in ax.collections if isinstance(c, PolyCollection)], [], "no band without percentiles")
        self.assertTrue(any("outputs.concentration: full" in t.get_text() for t in fig.texts))

    def test_arm_selection_keeps_colours(self):
        colours = ka.arm_colors(self.ds)
        fig = ka.figure_madrs_course(self.ds, ka.PlotOptions(arms=["intranasal_esketamine"]))
        p = panels(fig)
        self.assertEqual(list(p), ["intranasal_esketamine"])
        self.assertEqual(to_hex(line(p["intranasal_esketamine"], "median").get_color()),
                         colours["intranasal_esketamine"].lower())
        self.assertNotEqual(colours["iv_ketamine"], colours["intranasal_esketamine"])


class EndpointFigures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture.make()
        cls.ds = ka.load(cls.fx.full)
        cls.arms = arms_of(cls.fx.full)
        cls.ok = read(cls.fx.full, "status") == 0

    @classmethod
    def tearDownClass(cls):
        cls.ds.close()

    def test_madrs_course_median_per_arm(self):
        madrs = read(self.fx.full, "madrs").astype(float)
        fig = ka.figure_madrs_course(self.ds, ka.PlotOptions())
        p = panels(fig)
        self.assertEqual(list(p), self.arms)
        for a, arm in enumerate(self.arms):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = np.nanpercentile(madrs[a][self.ok[a]], 50, axis=0)
            np.testing.assert_allclose(line(p[arm], "median").get_ydata(), expected)

    def test_rates_over_visits_follow_the_rules_and_meet_the_file_at_the_primary_visit(self):
        madrs = read(self.fx.full, "madrs").astype(float)
        baseline = read(self.fx.full, "baseline_madrs").astype(float)
        visits = read(self.fx.full, "visit")
        with h5py.File(self.fx.full, "r") as f:
            threshold = float(f.attrs["remission_threshold"])
            primary = float(f.attrs["primary_visit_d"])
        fig = ka.figure_rates_over_visits(self.ds, ka.PlotOptions())
        response_ax, remission_ax = fig.axes[:2]
        after = visits > 0
        for a, arm in enumerate(self.arms):
            ok = self.ok[a]
            with np.errstate(invalid="ignore"):
                responders = (baseline[a][ok, None] - madrs[a][ok]) >= 0.5 * baseline[a][ok, None]
                remitters = madrs[a][ok] <= threshold  # NaN (dropped out) is False: non-responder
            np.testing.assert_allclose(line(response_ax, arm).get_ydata(), 100 * responders.mean(0)[after])
            np.testing.assert_allclose(line(remission_ax, arm).get_ydata(), 100 * remitters.mean(0)[after])
            # At the primary visit the curves equal the engine's own flags.
            j = int(np.flatnonzero(visits[after] == primary)[0])
            self.assertAlmostEqual(line(response_ax, arm).get_ydata()[j],
                                   100 * read(self.fx.full, "response")[a][ok].mean())
            self.assertAlmostEqual(line(remission_ax, arm).get_ydata()[j],
                                   100 * read(self.fx.full, "remission")[a][ok].mean())

    def test_endpoint_bars_are_the_file_rates_in_arm_colours(self):
        fig = ka.figure_endpoints(self.ds, ka.PlotOptions())
        ax = fig.axes[0]
        bars = [p for p in ax.patches if p.get_height() > 0]
        self.assertEqual(len(bars), 2 * len(self.arms))
        colours = ka.arm_colors(self.ds)
        for i, name in enumerate(("response", "remission")):
            flags = read(self.fx.full, name)
            for a, arm in enumerate(self.arms):
                bar = bars[i * len(self.arms) + a]
                self.assertAlmostEqual(bar.get_height(), 100 * flags[a][self.ok[a]].mean())
                self.assertEqual(to_hex(bar.get_facecolor()[:3]), colours[arm].lower())

    def test_forest_points_are_ketasim_printed_differences(self):
        # `ketasim run` prints arm - reference (endpoints.comparisons; default: every arm vs the
        # first), the parallel-group line first; the forest plots arm - reference (the first) too.
        m = re.search(r"response (\S+) \[(\S+), (\S+)\]; remission (\S+) \[(\S+), (\S+)\]; "
                      r"mean MADRS change (\S+) \[(\S+), (\S+)\]", self.fx.printed)
        self.assertIsNotNone(m, self.fx.printed)
        printed = [float(v) for v in m.groups()]
        fig = ka.figure_forest(self.ds, ka.PlotOptions())
        rates_ax, change_ax = fig.axes[:2]
        points = {}
        for ax in (rates_ax, change_ax):
            for container in ax.containers:
                label = container.get_label()
                x = container.lines[0].get_xdata()[0]
                segment = container.lines[2][0].get_segments()[0]
                points[label] = (x, segment[0][0], segment[1][0], to_hex(container.lines[0].get_color()))
        other = self.arms[1]
        for k, endpoint in enumerate(("response", "remission", "madrs_change")):
            d, lo, hi = printed[3 * k:3 * k + 3]
            x, x_lo, x_hi, colour = points[f"{other}:{endpoint}"]
            with self.subTest(endpoint=endpoint):
                self.assertAlmostEqual(x, d, delta=0.051)
                self.assertAlmostEqual(x_lo, lo, delta=0.051)
                self.assertAlmostEqual(x_hi, hi, delta=0.051)
                self.assertEqual(colour, ka.arm_colors(self.ds)[other].lower())

    def test_forest_reference_option_changes_the_sign(self):
        default = ka.reference_differences(self.ds, self.arms[0])
        swapped = ka.reference_differences(self.ds, self.arms[1])
        np.testing.assert_allclose(default["difference"], -swapped["difference"])


class PlaceboArms(unittest.TestCase):
    """configs/single-infusion.yaml: a saline arm with 0% response draws (Wilson bounds exactly 0,
    not 1e-17 above, which matplotlib rejects as a negative error bar) and serves as reference."""

    def test_zero_rate_arm_and_placebo_reference(self):
        tmp = tempfile.mkdtemp(prefix="ketasim_figures_placebo_")
        try:
            path = os.path.join(tmp, "si.h5")
            printed = run([KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", "single-infusion.yaml"),
                           "--patients", "300", "-o", path, "--quiet"]).stdout
            self.assertEqual(ka.wilson_ci(0, 300)[1], 0.0)
            self.assertEqual(ka.wilson_ci(300, 300)[2], 1.0)
            out = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "plot", path, "-o", os.path.join(tmp, "f"),
                       "--reference", "saline"]).stdout
            self.assertIn("forest.png", out)
            with ka.load(path) as ds:
                table = ka.reference_differences(ds, "saline")
            m = re.search(r"difference ketamine - saline .*?response (\S+) \[(\S+), (\S+)\]", printed)
            row = table[(table["arm"] == "ketamine") & (table["endpoint"] == "response")].iloc[0]
            for got, want in zip((row["difference"], row["low"], row["high"]), map(float, m.groups())):
                self.assertAlmostEqual(got, want, delta=0.051)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class SweepFigures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture.make()

    def test_heatmap_cells_colour_scale_and_ci_text(self):
        remission = read(self.fx.sweep, "remission")  # (dose, interval, arm, patient)
        status = read(self.fx.sweep, "status")
        ok = status == 0
        pct = 100 * ((remission == 1) & ok).sum(-1) / ok.sum(-1)
        with ka.load(self.fx.sweep) as ds:
            fig = ka.figure_sweep(ds, ka.PlotOptions())
        ax = panels(fig)["iv_ketamine"]
        image = ax.get_images()[0]
        np.testing.assert_allclose(image.get_array(), pct[:, :, 0])
        lo, hi = image.get_clim()
        self.assertAlmostEqual(lo, pct.min())  # scale fit to the data, not 0-100
        self.assertAlmostEqual(hi, pct.max())
        texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
        for (i, j), value in np.ndenumerate(pct[:, :, 0]):
            k, n = int(((remission[i, j, 0] == 1) & ok[i, j, 0]).sum()), int(ok[i, j, 0].sum())
            p, l, h = wilson(k, n)
            self.assertEqual(texts[(i, j)], f"{p:.0f}%\n[{l:.0f}, {h:.0f}]")

    def test_one_dimensional_sweep_lines(self):
        remission = read(self.fx.sweep1d, "remission")  # (key, arm, patient)
        ok = read(self.fx.sweep1d, "status") == 0
        with ka.load(self.fx.sweep1d) as ds:
            fig = ka.figure_sweep(ds, ka.PlotOptions())
            arms = [str(a) for a in ds["arm"].values]
        ax = fig.axes[0]
        for a, arm in enumerate(arms):
            container = [c for c in ax.containers if c.get_label() == arm][0]
            expected = 100 * ((remission[:, a] == 1) & ok[:, a]).sum(-1) / ok[:, a].sum(-1)
            np.testing.assert_allclose(container.lines[0].get_ydata(), expected)


class CommandLine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture.make()

    def test_formats(self):
        signatures = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}
        for fmt, signature in signatures.items():
            with self.subTest(fmt=fmt):
                outdir = os.path.join(self.fx.tmp, f"cli_{fmt}")
                printed = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "plot", self.fx.full, "-o", outdir,
                               "--format", fmt, "--log-y", "--time-window", "0", "48"]).stdout.split()
                names = {os.path.basename(p) for p in printed}
                expected = {f"{n}.{fmt}" for n in ("madrs_course", "rates_over_visits", "endpoints", "forest",
                                                   "concentration_ketamine", "concentration_s_ketamine",
                                                   "concentration_r_ketamine", "concentration_esketamine",
                                                   "concentration_noresketamine")}
                self.assertEqual(names, expected)
                self.assertEqual(set(os.listdir(outdir)), expected)
                for path in printed:
                    with open(path, "rb") as fh:
                        self.assertEqual(fh.read(len(signature)), signature, path)
                    self.assertGreater(os.path.getsize(path), 10_000, path)

    def test_arms_selection_and_unknown_arm(self):
        outdir = os.path.join(self.fx.tmp, "cli_arms")
        printed = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "plot", self.fx.full, "-o", outdir,
                       "--arms", "iv_ketamine"]).stdout.split()
        names = {os.path.basename(p) for p in printed}
        self.assertNotIn("concentration_esketamine.png", names)
        self.assertIn("concentration_ketamine.png", names)
        bad = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "plot", self.fx.full, "-o", outdir,
                   "--arms", "nasal"], check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("iv_ketamine", bad.stderr)

    def test_summary_file_says_why_there_are_no_bands(self):
        proc = run([PYTHON, os.path.join(TOOLS, "ketasim_analysis.py"), "plot", self.fx.summary, "-o",
                    os.path.join(self.fx.tmp, "cli_summary")])
        self.assertIn("outputs.concentration: full", proc.stderr)


if __name__ == "__main__":
    unittest.main()
