#!/usr/bin/python3
"""Invariants of every results file (issue 9), through the real binary, across sizes around every
batch boundary, 1-3 arms, with and without a sweep, with full concentration output:

* every patient-arm with status 0 has finite values in every stored per-patient dataset, except
  where the schema says a value may be missing: doses beyond an arm's schedule (where
  `dose_time_h` is NaN), visits after the patient left the study (after `dropout_time_d`) and
  event times of endpoints the patient is not at risk for (`event_observed` -1);
* every value is physically possible: concentrations >= 0, MADRS integers in 0-60, flags 0/1;
* per-visit flags agree with the primary-visit flags at the primary visit.

On main at 0900520, 2+ arms with fewer patients than outputs.batch_patients gave NaN `conc_*` for
every arm after the first while `status` stayed 0; this test fails there.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import tempfile
import unittest

import h5py
import numpy as np
import yaml

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
MODELS = os.path.join(SOURCE_DIR, "models")

ARMS = [
    {"name": "iv_ketamine", "model": os.path.join(MODELS, "herd-anderson-2007.yaml"),
     "background": "oral_antidepressant",
     "regimen": {"route": "iv_infusion", "dose": "0.5 mg/kg", "infusion_duration": "40 min", "adherence": 0.8,
                 "schedule": [{"every": "3.5d", "count": 4}]}},
    {"name": "intranasal_esketamine", "model": os.path.join(MODELS, "perez-ruixo-2021-esketamine.yaml"),
     "background": "oral_antidepressant",
     "regimen": {"route": "intranasal", "dose": "56 mg", "schedule": [{"every": "7d", "count": 2}]}},
    {"name": "saline", "model": os.path.join(MODELS, "herd-anderson-2007.yaml"), "background": "saline",
     "regimen": {"route": "iv_infusion", "dose": 0, "infusion_duration": "40 min",
                 "schedule": [{"every": "3.5d", "count": 4}]}},
]


def study(n_patients, n_arms, sweep, dropout):
    config = {
        "study": {"name": "invariants", "duration": "14d", "seed": 7},
        "cohort": {"patients": n_patients},
        "arms": ARMS[:n_arms],
        "endpoints": {"model": os.path.join(MODELS, "response", "default.yaml"),
                      "visits": ["0d", "1d", "7d", "14d"], "primary_visit": "14d"},
        "outputs": {"concentration": "full", "time_step": "6h"},
    }
    if dropout:
        config["endpoints"]["dropout"] = {"rate_per_week": 0.3, "imputation": "locf"}
    if sweep:
        config["sweep"] = {"arms": ["iv_ketamine"],
                           "grid": [{"key": "regimen.dose", "name": "dose_mg_per_kg", "values": [0.25, 0.5],
                                     "unit": "mg/kg"}]}
    return config


def model_variables(model_path):
    """Per-arm variable names a model defines, read from the model file itself (not from ketasim):
    pk_<parameter>, and conc_/cmax_/tmax_/auc_<output> for every moiety and total."""
    with open(model_path) as fh:
        model = yaml.safe_load(fh)
    outputs = list(model["moieties"]) + list(model.get("totals") or {})
    names = {"pk_" + p for p in model["parameters"]}
    for o in outputs:
        o = o.lower().replace("-", "_").replace(" ", "_")
        names |= {prefix + o for prefix in ("conc_", "cmax_", "tmax_", "auc_")}
    return names


PER_MODEL_PREFIXES = ("pk_", "conc_", "cmax_", "tmax_", "auc_")


def per_patient_datasets(f):
    """(name, array, dim names) of every dataset with a `patient` dimension."""
    out = []
    for name, ds in f.items():
        if not isinstance(ds, h5py.Dataset) or name == "patient":
            continue
        dims = [d[0].name.lstrip("/") if len(d) else "" for d in ds.dims]
        if "patient" in dims:
            out.append((name, ds[...], dims))
    return out


class ResultsInvariants(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_invariants_")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_case(self, n_patients, n_arms, sweep, dropout=False):
        tag = f"n{n_patients}-a{n_arms}-s{int(sweep)}-d{int(dropout)}"
        config_path = os.path.join(self.tmp.name, tag + ".yaml")
        out = os.path.join(self.tmp.name, tag + ".h5")
        with open(config_path, "w") as fh:
            yaml.safe_dump(study(n_patients, n_arms, sweep, dropout), fh)
        proc = subprocess.run([KETASIM_EXE, "run", config_path, "-o", out, "--quiet", "--threads", "2"],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, f"{tag}: {proc.stderr}")
        return tag, out

    def check_file(self, tag, path):
        with h5py.File(path, "r") as f:
            status = f["status"][...]
            ok = status == 0
            self.assertTrue(ok.any(), f"{tag}: no patient simulated")
            status_dims = [d[0].name.lstrip("/") for d in f["status"].dims]
            dose_time = f["dose_time_h"][...] if "dose_time_h" in f else None
            dropout_d = f["dropout_time_d"][...] if "dropout_time_d" in f else None
            visits = f["visit"][...]
            arm_names = [a.decode() if isinstance(a, bytes) else str(a) for a in f["arm"][...]]
            sessions = [sum(p["count"] for p in next(a for a in ARMS if a["name"] == name)["regimen"]["schedule"])
                        for name in arm_names]
            defined = [model_variables(next(a["model"] for a in ARMS if a["name"] == name)) for name in arm_names]
            for name, values, dims in per_patient_datasets(f):
                # Broadcast the ok-mask over the dataset's trailing axes (time, visit, dose).
                if dims[: len(status_dims)] == status_dims:
                    mask = ok.reshape(ok.shape + (1,) * (values.ndim - ok.ndim))
                    mask = np.broadcast_to(mask, values.shape).copy()
                elif dims == ["patient"]:
                    mask = np.ones(values.shape, bool)
                else:
                    self.fail(f"{tag}: {name} has dims {dims}, neither (patient) nor status's {status_dims} + more")
                if name.startswith(PER_MODEL_PREFIXES):
                    # NaN, by the schema, for arms whose model has no such parameter or output.
                    arm_axis = dims.index("arm")
                    for a, names in enumerate(defined):
                        if name not in names:
                            index = [slice(None)] * values.ndim
                            index[arm_axis] = a
                            self.assertTrue(np.isnan(values[tuple(index)]).all(), f"{tag}: {name} set for arm {a}")
                            mask[tuple(index)] = False
                if dims[-1] == "dose":
                    # Doses beyond an arm's schedule (from the config, not the file) are padding.
                    arm_axis = dims.index("arm")
                    for a, n_doses in enumerate(sessions):
                        index = [slice(None)] * values.ndim
                        index[arm_axis] = a
                        index[-1] = slice(n_doses, None)
                        pad = values[tuple(index)]
                        if values.dtype.kind == "i":
                            self.assertTrue((pad == -1).all(), f"{tag}: {name} padding not -1")
                        else:
                            self.assertTrue(np.isnan(pad).all(), f"{tag}: {name} padding not NaN")
                        mask[tuple(index)] = False
                if name == "dropout_time_d":
                    mask &= False  # NaN means the patient stayed; checked against madrs below
                if name == "event_time_d":
                    # NaN exactly where the patient is not at risk (relapse without a response).
                    observed = f["event_observed"][...]
                    self.assertTrue(np.isin(observed[mask], [-1, 0, 1]).all(), f"{tag}: event_observed flags")
                    not_at_risk = observed == -1
                    self.assertTrue(np.isnan(values[mask & not_at_risk]).all(), f"{tag}: time set while not at risk")
                    self.assertTrue((values[mask & ~not_at_risk] >= 0).all(), f"{tag}: negative event time")
                    mask &= ~not_at_risk
                if dims[-1] == "visit" and dropout_d is not None:
                    left = dropout_d.reshape(dropout_d.shape + (1,)) <= visits  # NaN (never left) compares False
                    mask &= ~left
                if values.dtype.kind == "f":
                    bad = mask & ~np.isfinite(values)
                    self.assertFalse(bad.any(), f"{tag}: {name} has {int(bad.sum())} non-finite values for ok patients "
                                                f"(first at index {np.argwhere(bad)[0].tolist() if bad.any() else ''})")
                if name.startswith("conc_") or name.startswith("cmax_") or name.startswith("auc_"):
                    self.assertTrue((values[mask] >= 0).all(), f"{tag}: {name} has negative values")
                if name == "madrs":
                    m = values[mask]
                    self.assertTrue(((m >= 0) & (m <= 60) & (m == np.round(m))).all(), f"{tag}: MADRS outside 0-60")
                if values.dtype.kind == "i" and name in ("response", "remission", "relapse", "response_by_visit",
                                                        "remission_by_visit", "dose_taken"):
                    self.assertTrue(np.isin(values[mask], [0, 1]).all(), f"{tag}: {name} not 0/1")
            if dropout_d is not None:
                # A patient who left has NaN scores from the first missed visit on, and only then.
                madrs = f["madrs"][...]
                left = dropout_d[..., None] <= visits
                self.assertTrue(np.isnan(madrs[left & ok[..., None]]).all(), f"{tag}: scores after dropout")
                self.assertTrue(np.isfinite(madrs[~left & ok[..., None]]).all(), f"{tag}: missing scores before dropout")
            if "remission_by_visit" in f:
                primary = int(np.flatnonzero(visits == f.attrs["primary_visit_d"])[0])
                np.testing.assert_array_equal(f["remission_by_visit"][..., primary], f["remission"][...])
                np.testing.assert_array_equal(f["response_by_visit"][..., primary], f["response"][...])

    def test_sizes_around_batch_boundaries(self):
        # The default outputs.batch_patients is 256: 255, 256 and 257 straddle it, 1 and 5 are
        # below it (the case that broke), 1000 spans several batches with a short last one.
        for n in (1, 5, 255, 256, 257, 1000):
            for n_arms in (1, 2, 3):
                for sweep in (False, True):
                    with self.subTest(n=n, arms=n_arms, sweep=sweep):
                        self.check_file(*self.run_case(n, n_arms, sweep))

    def test_with_dropout(self):
        for n in (5, 300):
            with self.subTest(n=n):
                self.check_file(*self.run_case(n, 3, True, dropout=True))


if __name__ == "__main__":
    unittest.main()
