#!/usr/bin/python3
"""Interoperability of the results file (spec section 3, docs/results-format.md).

Runs the real `ketasim run` on configs/default.yaml and configs/sweep.yaml (and event-data.yaml,
esketamine-sampling.yaml for patient_id, dose_duration_h, ipred_*/dv_*; sustain1-withdrawal.yaml
for withdrawal_*), then opens each file
with xarray (h5netcdf and netcdf4 engines), h5py and R (hdf5r and ncdf4 through
tools/read_results.R) and checks the contract and that every reader computes the same per-arm
remission rates as the table `ketasim run` printed.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR, KETASIM_BUILD_DIR.

Assumptions about the printed table (the parser is deliberately tolerant):
  * one row per arm, starting with the arm name as it appears in the file's `arm` coordinate
    (possibly after the sweep values as leading columns, or after "arm:"-style punctuation);
  * then N (an integer, optionally written "N=200"), then the response rate and its CI, then the
    remission rate and its CI, each as `P% [LO, HI]` (the `%` signs, the bracket style
    [] or (), and the CI separator ",", ";", " - ", "–" or "to" may vary); anything after that is ignored;
  * rates are percentages (fractions are accepted when the output contains no `%` and every value <= 1);
  * N counts patients with status 0 (ok), and the rates are over those patients;
  * for sweeps, the point is given either on a preceding header line containing `dim=value` /
    `dim: value` for every swept key, or on the row itself (`dim=value`, or the swept values as
    leading numeric columns in dimension order);
  * numbers are rounded for printing: equality is checked to half a unit of the last printed digit.
"""
import math
import os
import re
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
import xarray as xr

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.environ.get("KETASIM_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(BUILD_DIR, "ketasim")
READ_RESULTS_R = os.path.join(SOURCE_DIR, "tools", "read_results.R")

sys.path.insert(0, os.path.join(SOURCE_DIR, "tools"))
import ketasim_analysis as ka  # noqa: E402

ENGINES = ("h5netcdf", "netcdf4")
BASE_DIMS = {"arm", "patient", "time", "visit", "dose", "input_file", "event_endpoint", "event_time", "sample_time",
             "withdrawal_group", "withdrawal_arm", "withdrawal_time"}
ROOT_ATTRS = ("software", "software_version", "git_commit", "created", "command_line", "seed", "rng",
              "config_yaml", "config_json", "Conventions", "primary_visit_d", "remission_threshold")
WILSON_SLACK_PCT = 0.05  # tolerate z = 1.96 vs 1.95996... in the printed CI bounds


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def run_ketasim(config, out, *extra):
    """`ketasim run` with --quiet; returns its stdout (the per-arm table). Fails the test with
    the command's output when it does not exit 0."""
    cmd = [KETASIM_EXE, "run", os.path.join(SOURCE_DIR, "configs", config), *extra, "-o", out, "--quiet"]
    proc = subprocess.run(cmd, cwd=SOURCE_DIR, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout


def file_rates(ds):
    """{(point_tuple, arm): (n_ok, responders, remitters)} computed directly from the arrays."""
    dims = ka.sweep_dims(ds)
    out = {}
    for point in ka.sweep_points(ds):
        sub = ds.sel(point) if point else ds
        for arm in sub["arm"].values:
            a = sub.sel(arm=arm)
            ok = a["status"].values == 0
            out[(tuple(point[d] for d in dims), str(arm))] = (
                int(ok.sum()), int(((a["response"].values == 1) & ok).sum()),
                int(((a["remission"].values == 1) & ok).sum()))
    return out


NUM = r"[-+]?\d+(?:\.\d+)?"
CI = rf"(?P<{{k}}>{NUM})\s*%?\s*[\[(]\s*(?P<{{k}}_lo>{NUM})\s*%?\s*(?:,|;|–|\s-\s|\s+to\s+)\s*(?P<{{k}}_hi>{NUM})\s*%?\s*[\])]"
ROW_TAIL = re.compile(
    r"^\s*[:|]?\s*(?:N\s*=\s*)?(?P<n>\d+)[\s|,]+" + CI.format(k="resp") + r"[\s|,]+" + CI.format(k="rem"))


def _decimals(text):
    return len(text.split(".")[1]) if "." in text else 0


def _as_value(text):
    try:
        return float(text)
    except ValueError:
        return text


def parse_printed_table(text, arms, sweep_dims=()):
    """Rows of `ketasim run`'s table: dicts with arm, n, response/remission (value, lo, hi, and
    the printed tolerance), and `point` ({dim: value} for the sweep dims that could be read).

    See the module docstring for the assumptions. Arm names are matched longest first so that
    'ketamine' does not match inside 'ketamine_high'.
    """
    arm_names = sorted(arms, key=len, reverse=True)
    context = {}
    rows = []
    any_percent = "%" in text
    for line in text.splitlines():
        for d in sweep_dims:
            m = re.search(rf"(?<![\w.]){re.escape(d)}\s*[=:]\s*([^\s,;|)\]]+)", line)
            if m:
                context[d] = _as_value(m.group(1))
        for arm in arm_names:
            m = re.search(rf"(?:^|[\s|,])({re.escape(arm)})(?=[\s:|,]|$)", line)
            if not m:
                continue
            tail = ROW_TAIL.match(line[m.end(1):])
            if not tail:
                continue
            point = dict(context)
            leading = re.findall(NUM, line[:m.start(1)])
            if sweep_dims and len(leading) == len(sweep_dims) and not any(f"{d}" in line for d in sweep_dims):
                point = {d: float(v) for d, v in zip(sweep_dims, leading)}
            g = tail.groupdict()
            row = {"arm": arm, "n": int(g["n"]), "point": point, "line": line}
            for key, name in (("resp", "response"), ("rem", "remission")):
                vals = [float(g[key]), float(g[key + "_lo"]), float(g[key + "_hi"])]
                scale = 100.0 if (any_percent or max(vals) > 1) else 1.0
                dec = max(_decimals(g[key]), _decimals(g[key + "_lo"]), _decimals(g[key + "_hi"]))
                tol = 0.5 * 10 ** (-dec) * (100.0 / scale) + 1e-9
                row[name] = [v * 100.0 / scale for v in vals] + [tol]  # percent, plus tolerance in percent
            rows.append(row)
            break  # one arm per line
    return rows


def point_matches(printed, actual):
    """Does a printed sweep point ({dim: value}, values rounded for printing) denote `actual`?"""
    for d, v in actual.items():
        if d not in printed:
            return False
        p = printed[d]
        if isinstance(v, str) or isinstance(p, str):
            if str(p) != str(v):
                return False
        else:
            text = f"{p}"
            tol = 0.5 * 10 ** (-_decimals(text)) + 1e-12
            if abs(float(p) - float(v)) > max(tol, 1e-9 * abs(float(v))):
                return False
    return True


def run_r(path):
    """tools/read_results.R output as {(reader, point_tuple_of_str, arm): (n, responders, remitters)}."""
    proc = subprocess.run(["Rscript", READ_RESULTS_R, path], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"Rscript read_results.R failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    header = lines[0].split("\t")
    out = {}
    for line in lines[1:]:
        rec = dict(zip(header, line.split("\t")))
        point = () if rec["point"] == "-" else tuple(
            _as_value(kv.split("=", 1)[1]) for kv in rec["point"].split(","))
        out[(rec["reader"], point, rec["arm"])] = (int(rec["n"]), int(rec["responders"]), int(rec["remitters"]),
                                                   int(rec["doses_taken"]), int(rec["dropouts"]),
                                                   int(rec["remission_visits"]), int(rec["events"]),
                                                   int(rec["km_events"]))
    return out, proc.stdout


# ---------------------------------------------------------------------------------------------
# Checks shared by the default and the sweep run
# ---------------------------------------------------------------------------------------------

class ContractChecks:
    """Mixin: subclasses set cls.path, cls.printed and cls.config in setUpClass."""
    covariates_swept = False  # a sweep over cohort.* gives weight_kg/age_y/sex the sweep dimensions

    def datasets(self):
        for engine in ENGINES:
            with self.subTest(engine=engine):
                with xr.open_dataset(self.path, engine=engine) as ds:  # no options, as the spec says
                    yield engine, ds

    def test_no_temporary_file_left(self):
        leftovers = [f for f in os.listdir(os.path.dirname(self.path)) if ".tmp." in f]
        self.assertEqual(leftovers, [])

    def test_dimensions_are_named_as_in_the_contract(self):
        for engine, ds in self.datasets():
            sweep = ka.sweep_dims(ds)
            self.assertTrue(set(sweep).isdisjoint(BASE_DIMS), sweep)
            per_arm = tuple(sweep) + ("arm", "patient")
            expected = {"remission": per_arm, "response": per_arm, "status": per_arm,
                        "baseline_madrs": per_arm, "madrs": per_arm + ("visit",),
                        **{name: (tuple(sweep) if self.covariates_swept else ()) + ("patient",)
                           for name in ("weight_kg", "age_y", "sex")}}
            for name, dims in expected.items():
                self.assertIn(name, ds.variables, f"{engine}: {name} missing")
                self.assertEqual(ds[name].dims, dims, f"{engine}: {name}")
            self.assertTrue(any(n.startswith("pk_") for n in ds.data_vars), f"{engine}: no pk_* variable")
            for name, var in ds.data_vars.items():
                if re.fullmatch(r"conc_\w+_(mean|sd)", name):
                    self.assertEqual(var.dims, tuple(sweep) + ("arm", "time"), name)
                elif name.startswith("conc_"):
                    self.assertEqual(var.dims, per_arm + ("time",), name)
                elif re.match(r"(cmax|tmax|auc)_", name) or name.startswith("dose_"):
                    self.assertEqual(var.dims, per_arm + ("dose",), name)
                elif re.match(r"(ipred|dv)_", name):
                    self.assertEqual(var.dims, per_arm + ("sample_time",), name)
                elif name == "patient_id":
                    self.assertEqual(var.dims, ("patient",), name)
                self.assertTrue(set(var.dims) <= BASE_DIMS | set(sweep), f"{name}: {var.dims}")
            for dim in ds.dims:  # every dimension is a coordinate variable, not a bare netCDF dim
                self.assertIn(dim, ds.coords, f"{engine}: dimension {dim} has no coordinate values")

    def test_units_and_long_name_on_every_variable(self):
        for engine, ds in self.datasets():
            for name, var in ds.variables.items():
                self.assertIn("units", var.attrs, f"{engine}: {name} has no units")
                self.assertIn("long_name", var.attrs, f"{engine}: {name} has no long_name")
            if "time" in ds:  # absent with outputs.concentration: none
                self.assertEqual(ds["time"].attrs["units"], "h")
            self.assertEqual(ds["visit"].attrs["units"], "d")

    def test_time_and_visit_are_numeric(self):
        for engine, ds in self.datasets():
            for name in ("time", "visit"):
                if name in ds:
                    self.assertEqual(ds[name].dtype.kind, "f", f"{engine}: {name} is {ds[name].dtype}")

    def test_arm_labels_are_strings(self):
        for engine, ds in self.datasets():
            arms = [str(a) for a in ds["arm"].values]
            self.assertGreaterEqual(len(arms), 1)
            self.assertEqual(len(set(arms)), len(arms))

    def test_h5py_layout(self):
        with h5py.File(self.path, "r") as f:
            for key in ROOT_ATTRS:
                self.assertIn(key, f.attrs, f"root attribute {key} missing")
            self.assertEqual(_text(f.attrs["Conventions"]), "CF-1.8")
            self.assertEqual(_text(f.attrs["software"]), "ketasim")
            with open(os.path.join(SOURCE_DIR, "configs", self.config), encoding="utf-8", newline="") as fh:
                self.assertEqual(_text(f.attrs["config_yaml"]), fh.read(), "config_yaml is not the file verbatim")
            arm = f["arm"]
            info = h5py.check_string_dtype(arm.dtype)
            self.assertIsNotNone(info, "arm is not a string dataset")
            self.assertIsNone(info.length, "arm labels must be variable-length strings")
            self.assertEqual(info.encoding, "utf-8")
            for name, ds in f.items():
                self.assertIsInstance(ds, h5py.Dataset, f"{name}: the root group must be flat")
                self.assertIsNone(ds.dtype.names, f"{name}: compound datasets are not allowed")
                self.assertIn("units", ds.attrs, f"{name}: units")
                if h5py.h5ds.is_scale(ds.id):  # a coordinate variable is its own (1-D) axis
                    self.assertEqual(ds.ndim, 1, f"{name}: dimension scales are 1-D")
                    continue
                for axis in range(ds.ndim):
                    self.assertEqual(len(ds.dims[axis]), 1, f"{name}: axis {axis} has no dimension scale")

    def test_remission_matches_printed_table(self):
        with xr.open_dataset(self.path, engine="h5netcdf") as ds:
            dims = ka.sweep_dims(ds)
            arms = [str(a) for a in ds["arm"].values]
            computed = file_rates(ds)
        rows = parse_printed_table(self.printed, arms, dims)
        self.assertTrue(rows, f"no arm rows recognised in ketasim's output:\n{self.printed}")
        for arm in arms:
            target = self.selected_point()
            key = (tuple(target[d] for d in dims), arm)
            n, responders, remitters = computed[key]
            matching = [r for r in rows if r["arm"] == arm and point_matches(r["point"], target)]
            self.assertTrue(matching, f"no printed row for arm {arm} at {target}:\n{self.printed}")
            for r in matching:
                self.assert_row_matches(r, n, responders, remitters)
        # Every other row whose sweep point could be read must agree with the file too.
        for r in rows:
            for (point, arm), (n, responders, remitters) in computed.items():
                if arm == r["arm"] and point_matches(r["point"], dict(zip(dims, point))):
                    self.assert_row_matches(r, n, responders, remitters)

    def assert_row_matches(self, row, n, responders, remitters):
        self.assertEqual(row["n"], n, f"printed N vs patients with status 0 in the file: {row['line']!r}")
        for name, k in (("response", responders), ("remission", remitters)):
            value, lo, hi, tol = row[name]
            p, wl, wh = (100 * x for x in ka.wilson_ci(k, n))
            self.assertLessEqual(abs(value - p), tol, f"{name} {value} vs {p} from the file: {row['line']!r}")
            self.assertLessEqual(abs(lo - wl), tol + WILSON_SLACK_PCT, f"{name} CI low vs Wilson {wl}: {row['line']!r}")
            self.assertLessEqual(abs(hi - wh), tol + WILSON_SLACK_PCT, f"{name} CI high vs Wilson {wh}: {row['line']!r}")

    def test_engines_and_h5py_agree(self):
        """The same remission counts from both xarray engines, from h5py and from R."""
        point = self.selected_point()
        results = {}
        for engine, ds in self.datasets():
            sub = ds.sel(point) if point else ds
            self.assertEqual(sub["remission"].dims, ("arm", "patient"))
            results[engine] = {str(a): _counts(*(sub[n].sel(arm=a).values for n in COUNTED)) for a in sub["arm"].values}
        with h5py.File(self.path, "r") as f:
            arms = [_text(a) for a in f["arm"][...]]
            index = _h5py_point_index(f, point)
            values = [f[n][index] for n in COUNTED]
            results["h5py"] = {a: _counts(*(v[i] for v in values)) for i, a in enumerate(arms)}
        for arm, counts in results["h5py"].items():
            self.assertEqual(counts[6], counts[7], f"{arm}: events per patient vs km_events")
        self.assertEqual(results["h5netcdf"], results["netcdf4"])
        self.assertEqual(results["h5netcdf"], results["h5py"])
        r_values, r_text = run_r(self.path)
        r_point = tuple(point[d] for d in point)
        for reader in ("hdf5r", "ncdf4"):
            for arm, counts in results["h5py"].items():
                key = next((k for k in r_values if k[0] == reader and k[2] == arm and
                            point_matches(dict(zip(point, k[1])), point)), None)
                self.assertIsNotNone(key, f"R ({reader}) printed no row for {arm} at {r_point}:\n{r_text}")
                self.assertEqual(r_values[key], counts, f"R ({reader}) vs Python for {arm} at {point}")
        # And R's two readers agree with each other at every point.
        for (reader, pt, arm), counts in r_values.items():
            if reader == "hdf5r":
                self.assertEqual(r_values[("ncdf4", pt, arm)], counts)


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# What every reader counts per arm: the endpoint flags and the issue-9 datasets (doses attended,
# patients who left, remissions summed over visits), so each new dataset is read by every reader.
# Issue 11: events per patient (event_observed) and the Kaplan-Meier event counts (km_events), whose
# totals must also agree with each other.
COUNTED = ("status", "response", "remission", "dose_taken", "dropout_time_d", "remission_by_visit",
           "event_observed", "km_events")


def _counts(status, response, remission, dose_taken, dropout_time_d, remission_by_visit, event_observed, km_events):
    ok = np.asarray(status) == 0
    return (int(ok.sum()), int(((np.asarray(response) == 1) & ok).sum()),
            int(((np.asarray(remission) == 1) & ok).sum()),
            int(((np.asarray(dose_taken) == 1) & ok[:, None]).sum()),
            int((np.isfinite(np.asarray(dropout_time_d, dtype=float)) & ok).sum()),
            int(((np.asarray(remission_by_visit) == 1) & ok[:, None]).sum()),
            int(((np.asarray(event_observed) == 1) & ok[:, None]).sum()),
            int(np.asarray(km_events).sum()))


def _h5py_point_index(f, point):
    """Index tuple for a sweep point in h5py (sweep dims lead, in the order of remission's axes)."""
    if not point:
        return ()
    dims = [ds.name.lstrip("/") for d in f["remission"].dims for ds in d.values()]
    index = []
    for d in dims[:-2]:
        values = f[d][...]
        values = [_text(v) for v in values] if values.dtype.kind in "OS" else list(values)
        index.append(values.index(point[d]))
    return tuple(index)


class DefaultRun(ContractChecks, unittest.TestCase):
    config = "default.yaml"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_interop_")
        cls.path = os.path.join(cls.tmp, "r.h5")
        cls.printed = run_ketasim(cls.config, cls.path, "--patients", "200", "--seed", "7")

    def selected_point(self):
        return {}

    def test_patient_count(self):
        with xr.open_dataset(self.path, engine="h5netcdf") as ds:
            self.assertEqual(ds.sizes["patient"], 200)
            self.assertEqual(ka.sweep_dims(ds), [], "default.yaml is not a sweep")


class EventDataRun(ContractChecks, unittest.TestCase):
    """Doses from an event data set: patient_id and dose_duration_h in every reader."""
    config = "event-data.yaml"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_interop_events_")
        cls.path = os.path.join(cls.tmp, "events.h5")
        cls.printed = run_ketasim(cls.config, cls.path)

    def selected_point(self):
        return {}

    def test_new_variables(self):
        for engine, ds in self.datasets():
            self.assertEqual(ds["patient_id"].values[:3].tolist(), [1001, 1002, 1003], engine)
            self.assertIn("dose_duration_h", ds.data_vars, engine)


class SampledObservationsRun(ContractChecks, unittest.TestCase):
    """Simulated observations: ipred_* and dv_* along sample_time in every reader."""
    config = "esketamine-sampling.yaml"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_interop_sampling_")
        cls.path = os.path.join(cls.tmp, "sampling.h5")
        cls.printed = run_ketasim(cls.config, cls.path, "--patients", "100")

    def selected_point(self):
        return {}

    def test_new_variables(self):
        for engine, ds in self.datasets():
            self.assertEqual(ds["dv_esketamine"].dims, ("arm", "patient", "sample_time"), engine)
            self.assertEqual(ds["sample_time"].attrs["units"], "h", engine)
            self.assertEqual(ds.sizes["sample_time"], 8, engine)


class WithdrawalRun(ContractChecks, unittest.TestCase):
    """Randomized withdrawal: withdrawal_* along withdrawal_group, withdrawal_arm, withdrawal_time."""
    config = "sustain1-withdrawal.yaml"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_interop_withdrawal_")
        cls.path = os.path.join(cls.tmp, "withdrawal.h5")
        cls.printed = run_ketasim(cls.config, cls.path, "--patients", "300")

    def selected_point(self):
        return {}

    def test_new_variables(self):
        for engine, ds in self.datasets():
            self.assertEqual(ds["withdrawal_km_survival"].dims, ("withdrawal_group", "withdrawal_arm", "withdrawal_time"),
                             engine)
            self.assertEqual(ds["withdrawal_relapse_time_d"].dims, ("withdrawal_arm", "patient"), engine)
            self.assertEqual([str(g) for g in ds["withdrawal_group"].values], ["stable_remitters", "stable_responders"],
                             engine)
            self.assertEqual(ds["withdrawal_time"].attrs["units"], "d", engine)
            n = ds["withdrawal_n"].values
            self.assertEqual(int(n.sum()), int((ds["withdrawal_selected"].values >= 0).sum()), engine)


class CohortSweepRun(ContractChecks, unittest.TestCase):
    """A sweep over the cohort's distributions: covariates per sweep point in every reader."""
    config = "sweep-cohort.yaml"
    covariates_swept = True

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_interop_cohort_")
        cls.path = os.path.join(cls.tmp, "cohort.h5")
        cls.printed = run_ketasim(cls.config, cls.path, "--patients", "100")
        with xr.open_dataset(cls.path, engine="h5netcdf") as ds:
            cls.point = {d: ds[d].values[-1].item() for d in ka.sweep_dims(ds)}

    def selected_point(self):
        return self.point

    def test_new_variables(self):
        for engine, ds in self.datasets():
            ages = ds["age_y"].mean(dim="patient").values
            self.assertTrue(np.all(np.diff(ages) > 10), f"{engine}: {ages}")


class SweepRun(ContractChecks, unittest.TestCase):
    config = "sweep.yaml"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ketasim_interop_sweep_")
        cls.path = os.path.join(cls.tmp, "sweep.h5")
        cls.printed = run_ketasim(cls.config, cls.path, "--patients", "100")
        with xr.open_dataset(cls.path, engine="h5netcdf") as ds:
            dims = ka.sweep_dims(ds)
            # The last point of the grid: a different point from the first one printed, so that a
            # parser that ignores the sweep context would be caught.
            cls.point = {d: ds[d].values[-1].item() if hasattr(ds[d].values[-1], "item") else ds[d].values[-1]
                         for d in dims}

    def selected_point(self):
        return self.point

    def test_is_a_sweep_with_coordinates(self):
        with xr.open_dataset(self.path, engine="h5netcdf") as ds:
            dims = ka.sweep_dims(ds)
            self.assertGreaterEqual(len(dims), 1, "sweep.yaml produced no sweep dimension")
            self.assertEqual(ds.sizes["patient"], 100)
            for d in dims:
                self.assertIn(d, ds.coords)
                self.assertIn("units", ds[d].attrs)
            one = ds.sel(self.point)
            self.assertEqual(one["madrs"].dims, ("arm", "patient", "visit"))


class PrintedTableParserTest(unittest.TestCase):
    """The parser itself, on the table shapes it claims to accept (no ketasim needed)."""

    def test_plain_rows(self):
        text = ("arm            N   response %            remission %           MADRS change\n"
                "placebo      200   12.5% [8.6, 17.8]     4.0% [2.0, 7.7]       -8.1\n"
                "ketamine_iv  200   55.0% [48.1, 61.7]    30.5% [24.5, 37.2]    -19.0\n"
                "ketamine_iv - placebo: 42.5% [34.0, 50.1]\n")
        rows = parse_printed_table(text, ["placebo", "ketamine_iv"])
        self.assertEqual([(r["arm"], r["n"]) for r in rows], [("placebo", 200), ("ketamine_iv", 200)])
        self.assertEqual(rows[1]["remission"][:3], [30.5, 24.5, 37.2])
        self.assertAlmostEqual(rows[1]["remission"][3], 0.05)

    def test_sweep_header_and_leading_columns(self):
        text = ("sweep point: dose_mg_per_kg=0.5, interval_d=7\n"
                "  ketamine  N=100  31% (22 - 41)  12% (7 - 20)\n"
                "1.0  3.5  ketamine  100  50.0 % [40.4 ; 59.6]  20.0 % [13.3 ; 28.9]\n")
        rows = parse_printed_table(text, ["ketamine"], ["dose_mg_per_kg", "interval_d"])
        self.assertEqual(rows[0]["point"], {"dose_mg_per_kg": 0.5, "interval_d": 7.0})
        self.assertEqual(rows[1]["point"], {"dose_mg_per_kg": 1.0, "interval_d": 3.5})
        self.assertEqual(rows[0]["response"][:3], [31.0, 22.0, 41.0])
        self.assertTrue(point_matches(rows[0]["point"], {"dose_mg_per_kg": 0.5, "interval_d": 7.0}))

    def test_longest_arm_name_wins(self):
        rows = parse_printed_table("ketamine_high 50 10.0% [4.3, 21.4] 2.0% [0.4, 10.5]\n",
                                   ["ketamine", "ketamine_high"])
        self.assertEqual(rows[0]["arm"], "ketamine_high")

    def test_wilson_reference_values(self):
        # Hand-computed from the Wilson formula with z = 1.96.
        p, lo, hi = ka.wilson_ci(5, 10)
        self.assertAlmostEqual(lo, 0.2366, places=4)
        self.assertAlmostEqual(hi, 0.7634, places=4)
        p, lo, hi = ka.wilson_ci(0, 10)
        self.assertEqual(lo, 0.0)
        self.assertAlmostEqual(hi, 0.2775, places=4)
        self.assertTrue(all(math.isnan(x) for x in ka.wilson_ci(0, 0)))


if __name__ == "__main__":
    unittest.main()
