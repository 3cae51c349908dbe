#!/usr/bin/python3
"""Write a small synthetic results file that follows docs/results-format.md.

For developing the analysis tools before `ketasim run` exists. The numbers are made up
(a one-compartment PK model and a toy depression-score model); only the layout is meant to
be faithful to the contract, so that anything reading this file also reads the real one.

    /usr/bin/python3 tools/make_example_results.py out.h5            # 3 arms, no sweep
    /usr/bin/python3 tools/make_example_results.py out.h5 --sweep    # 2-D sweep grid
    /usr/bin/python3 tools/make_example_results.py out.h5 --sweep 1d # 1-D sweep
    /usr/bin/python3 tools/make_example_results.py out.h5 --concentration summary
"""
import argparse
import datetime
import json
import os
import sys
import warnings

import h5py
import numpy as np

STR = h5py.string_dtype(encoding="utf-8")  # variable-length UTF-8: the contract's label type
BATCH = 32  # patients per chunk, as the C++ writer streams them in batches

# Arm name -> (route, dose per session in mg/kg of the parent drug, moieties reported, efficacy).
ARMS = {
    "placebo": ("iv_infusion", 0.0, ["ketamine", "norketamine"], 0.0),
    "ketamine_iv": ("iv_infusion", 0.5, ["ketamine", "norketamine"], 0.8),
    "esketamine_in": ("intranasal", 1.0, ["esketamine", "noresketamine"], 0.65),
}
MOIETIES = ["ketamine", "norketamine", "esketamine", "noresketamine"]
DOSE_TIMES_H = np.array([0.0, 84.0, 168.0, 252.0, 336.0, 420.0, 504.0, 588.0])  # twice weekly
VISITS_D = np.array([0.0, 1.0, 7.0, 14.0, 21.0, 28.0])
PRIMARY_VISIT_D = 28.0
REMISSION_THRESHOLD = 10.0

CONFIG_YAML = """\
# Synthetic example written by tools/make_example_results.py (not a real ketasim config).
cohort: {patients: %d, weight_kg: {mean: 80, sd: 15}}
arms:
  placebo: {model: ../models/herd-anderson-2007.yaml, regimen: {route: iv_infusion, dose: {mg_per_kg: 0}}}
  ketamine_iv: {model: ../models/herd-anderson-2007.yaml, regimen: {route: iv_infusion, dose: {mg_per_kg: 0.5}}}
  esketamine_in: {model: ../models/perez-ruixo-2021.yaml, regimen: {route: intranasal, dose: {mg: 84}}}
outputs: {concentration: %s}
"""


def set_attrs(obj, units, long_name, **extra):
    """Every dataset carries units and long_name (contract); extra attributes go alongside."""
    obj.attrs["units"] = units
    obj.attrs["long_name"] = long_name
    for key, value in extra.items():
        obj.attrs[key] = value


def make_dimension(f, name, values, units, long_name):
    """A coordinate variable that is also an HDF5 dimension scale named after itself."""
    if values.dtype.kind in "OU":
        ds = f.create_dataset(name, data=np.array(values, dtype=object), dtype=STR)
    else:
        ds = f.create_dataset(name, data=values)
    set_attrs(ds, units, long_name)
    ds.make_scale(name)
    return ds


def write_variable(f, name, data, dims, units, long_name, **extra):
    """A data variable with each axis attached to its dimension scale.

    Arrays with a patient axis are chunked one batch of patients at a time with the whole
    trailing axes per chunk (shuffle + deflate 1), matching the writer's streaming layout.
    """
    kwargs = {}
    if "patient" in dims and data.ndim > 1:
        chunks = list(data.shape)
        p = dims.index("patient")
        chunks[:p] = [1] * p  # one arm / sweep point per chunk
        chunks[p] = min(BATCH, data.shape[p])
        kwargs = dict(chunks=tuple(chunks), shuffle=True, compression="gzip", compression_opts=1)
    ds = f.create_dataset(name, data=data, **kwargs)
    set_attrs(ds, units, long_name, **extra)
    for axis, dim in enumerate(dims):
        ds.dims[axis].attach_scale(f[dim])
    return ds


def one_compartment(times_h, dose_mg, dose_times_h, cl, v, infusion_h):
    """Concentration (ng/mL = mg/m3... = ug/L) of a 1-cmt model with zero-order infusions, by superposition."""
    k = cl / v
    rate = dose_mg / infusion_h  # mg/h
    c = np.zeros_like(times_h)
    for td in dose_times_h:
        t = times_h - td
        during = (t > 0) & (t <= infusion_h)
        after = t > infusion_h
        c[during] += rate / cl * (1 - np.exp(-k * t[during]))
        c[after] += rate / cl * (1 - np.exp(-k * infusion_h)) * np.exp(-k * (t[after] - infusion_h))
    return c * 1000.0  # mg/L -> ng/mL


def nca_per_dose(times_h, conc, dose_times_h):
    """Cmax, Tmax (after the dose) and trapezoidal AUC over each dosing interval."""
    n = len(dose_times_h)
    cmax, tmax, auc = (np.full(n, np.nan) for _ in range(3))
    ends = np.append(dose_times_h[1:], times_h[-1])
    for i, (a, b) in enumerate(zip(dose_times_h, ends)):
        m = (times_h >= a) & (times_h <= b)
        if m.sum() < 2 or np.all(np.isnan(conc[m])):
            continue
        j = np.nanargmax(conc[m])
        cmax[i], tmax[i] = conc[m][j], times_h[m][j] - a
        auc[i] = np.trapz(conc[m], times_h[m])
    return cmax, tmax, auc


def simulate_arm(rng, arm, covariates, times_h, dose_scale, interval_scale):
    """Made-up PK and MADRS for one arm; returns a dict of per-patient arrays."""
    route, mg_per_kg, moieties, efficacy = ARMS[arm]
    weight, age, sex = covariates
    n = len(weight)
    eta = rng.normal(0.0, 0.3, size=(n, 2))
    cl = 60.0 * (weight / 70.0) ** 0.75 * np.exp(eta[:, 0])
    v = 150.0 * (weight / 70.0) * np.exp(eta[:, 1])
    dose_times = DOSE_TIMES_H * interval_scale
    dose_times = dose_times[dose_times <= times_h[-1]]
    infusion_h = 40.0 / 60.0 if route == "iv_infusion" else 0.25
    out = {"pk_CL": cl, "pk_V1": v, "dose_times": dose_times}
    # Parent and metabolite (metabolite: a slower, smaller copy of the parent; synthetic).
    for m_index, moiety in enumerate(moieties):
        conc = np.empty((n, len(times_h)))
        for i in range(n):
            dose_mg = mg_per_kg * dose_scale * weight[i]
            scale = 1.0 if m_index == 0 else 0.4
            conc[i] = scale * one_compartment(times_h, dose_mg, dose_times,
                                              cl[i] * (1 if m_index == 0 else 0.5), v[i], infusion_h)
        out["conc_" + moiety] = conc
    # MADRS: baseline ~ N(37, 5.5) truncated to 26-50, benefit grows with the dose, noise per visit.
    baseline = np.clip(np.round(rng.normal(37.0, 5.5, n)), 26, 50)
    emax = 1 / (1 + np.exp(-rng.normal(0.0, 1.5, n)))  # per-patient sensitivity in (0, 1)
    placebo_max = np.clip(rng.normal(0.25, 0.2, n), 0.0, 0.8)  # per-patient placebo response
    placebo = placebo_max[:, None] * (1 - np.exp(-VISITS_D / 7.0))[None, :]
    benefit = efficacy * min(dose_scale, 2.0) / interval_scale * (VISITS_D > 0)
    mu = baseline[:, None] * (1 - placebo) * (1 - emax[:, None] * benefit[None, :])
    madrs = np.clip(np.round(mu + rng.normal(0, 4.0, mu.shape)), 0, 60)
    madrs[:, 0] = baseline
    out.update(baseline_madrs=baseline, madrs=madrs)
    return out


def synthesize(n_patients, seed, concentration, sweep):
    """All arrays in contract order: (sweep dims..., arm, patient, ...)."""
    rng = np.random.default_rng(seed)
    weight = np.clip(rng.normal(80, 15, n_patients), 45, 150)
    age = np.clip(rng.normal(45, 12, n_patients), 18, 75)
    sex = (rng.random(n_patients) < 0.6).astype(np.int8)
    times_h = np.arange(0.0, 24.0 * VISITS_D[-1] + 1e-9, 2.0)
    arms = list(ARMS)

    sweep_dims = {}
    if sweep == "2d":
        sweep_dims = {"dose_mg_per_kg": np.array([0.25, 0.5, 1.0]), "interval_d": np.array([3.5, 7.0])}
    elif sweep == "1d":
        sweep_dims = {"dose_mg_per_kg": np.array([0.25, 0.5, 0.75, 1.0])}
    grid = [dict(zip(sweep_dims, point)) for point in
            (np.array(np.meshgrid(*sweep_dims.values(), indexing="ij")).reshape(len(sweep_dims), -1).T
             if sweep_dims else [()])]
    sweep_shape = tuple(len(v) for v in sweep_dims.values())

    n_dose = len(DOSE_TIMES_H)
    per_point = []
    for point in grid:
        # Dose scaled relative to 0.5 mg/kg; interval relative to the twice-weekly schedule.
        dose_scale = point.get("dose_mg_per_kg", 0.5) / 0.5
        interval_scale = point.get("interval_d", 3.5) / 3.5
        per_point.append([simulate_arm(rng, arm, (weight, age, sex), times_h, dose_scale, interval_scale)
                          for arm in arms])

    def stack(fn, trailing, dtype):
        """Build an array (sweep..., arm, patient, *trailing) from fn(point_index, arm_index)."""
        a = np.full(sweep_shape + (len(arms), n_patients) + trailing, np.nan)
        for s in range(len(grid)):
            idx = np.unravel_index(s, sweep_shape) if sweep_shape else ()
            for k in range(len(arms)):
                a[idx + (k,)] = fn(s, k)
        return a.astype(dtype)

    vars_ = {}
    vars_["pk_CL"] = stack(lambda s, k: per_point[s][k]["pk_CL"], (), np.float64)
    vars_["pk_V1"] = stack(lambda s, k: per_point[s][k]["pk_V1"], (), np.float64)
    # pk_F only exists in the intranasal model: NaN elsewhere, as the contract says.
    vars_["pk_F"] = stack(lambda s, k: np.full(n_patients, 0.5 if arms[k] == "esketamine_in" else np.nan),
                          (), np.float64)
    for moiety in MOIETIES:
        def conc(s, k, moiety=moiety):
            r = per_point[s][k]
            return r.get("conc_" + moiety, np.full((n_patients, len(times_h)), np.nan))
        c = stack(conc, (len(times_h),), np.float64)
        vars_["conc_" + moiety] = c
        for name, fn in (("cmax", 0), ("tmax", 1), ("auc", 2)):
            vars_[f"{name}_{moiety}"] = stack(
                lambda s, k, fn=fn, c=c: _nca_padded(times_h, _at(c, s, k, sweep_shape),
                                                     per_point[s][k]["dose_times"], n_dose)[fn],
                (n_dose,), np.float64)
    vars_["madrs"] = stack(lambda s, k: per_point[s][k]["madrs"], (len(VISITS_D),), np.float64)
    vars_["baseline_madrs"] = stack(lambda s, k: per_point[s][k]["baseline_madrs"], (), np.float64)

    # A failed patient (visible, not dropped) and a few dropouts (NaN MADRS after dropout).
    status = np.zeros(sweep_shape + (len(arms), n_patients), dtype=np.int8)
    status[..., 1, 3] = 1
    for name in list(vars_):
        if name.startswith(("conc_", "cmax_", "tmax_", "auc_", "madrs")):
            vars_[name][..., 1, 3, :] = np.nan
    vars_["baseline_madrs"][..., 1, 3] = np.nan
    vars_["madrs"][..., 0, 5, 4:] = np.nan  # dropped out after day 14

    primary = int(np.where(VISITS_D == PRIMARY_VISIT_D)[0][0])
    final = vars_["madrs"][..., primary]
    base = vars_["baseline_madrs"]
    with np.errstate(invalid="ignore"):
        # Dropouts and failures count as non-responders / non-remitters (flag 0).
        vars_["response"] = (final <= 0.5 * base).astype(np.int8)
        vars_["remission"] = (final <= REMISSION_THRESHOLD).astype(np.int8)
        vars_["relapse"] = np.zeros_like(vars_["response"])
        vars_["madrs_change"] = (final - base).astype(np.float32)
    vars_["status"] = status
    return dict(arms=arms, weight=weight, age=age, sex=sex, times_h=times_h, sweep_dims=sweep_dims,
                n_dose=n_dose, vars=vars_)


def _at(a, s, k, sweep_shape):
    idx = np.unravel_index(s, sweep_shape) if sweep_shape else ()
    return a[idx + (k,)]


def _nca_padded(times_h, conc, dose_times, n_dose):
    """NCA for every patient; doses beyond an arm's schedule are NaN-padded."""
    n = conc.shape[0]
    out = np.full((3, n, n_dose), np.nan)
    for i in range(n):
        r = nca_per_dose(times_h, conc[i], dose_times)
        out[:, i, :len(dose_times)] = r
    return out


def write(path, n_patients=60, seed=7, concentration="full", sweep=None, config_text=None):
    data = synthesize(n_patients, seed, concentration, sweep)
    sweep_dims = list(data["sweep_dims"])
    tmp = f"{path}.tmp.{os.getpid()}"
    with h5py.File(tmp, "w") as f:
        make_dimension(f, "arm", np.array(data["arms"], dtype=object), "1", "treatment arm")
        make_dimension(f, "patient", np.arange(n_patients, dtype=np.int64), "1", "global patient index")
        if concentration != "none":
            make_dimension(f, "time", data["times_h"], "h", "time after first dose")
        make_dimension(f, "visit", VISITS_D, "d", "MADRS visit day after first dose")
        make_dimension(f, "dose", np.arange(data["n_dose"], dtype=np.int32), "1", "dose index within the arm's schedule")
        units = {"dose_mg_per_kg": "mg/kg", "interval_d": "d"}
        for name, values in data["sweep_dims"].items():
            make_dimension(f, name, values.astype(np.float64), units[name], f"swept {name}")

        write_variable(f, "weight_kg", data["weight"], ["patient"], "kg", "body weight")
        write_variable(f, "age_y", data["age"], ["patient"], "yr", "age")
        write_variable(f, "sex", data["sex"], ["patient"], "1", "sex",
                       flag_values=np.array([0, 1], dtype=np.int8), flag_meanings="male female")

        per_arm = sweep_dims + ["arm", "patient"]
        v = data["vars"]
        pk_units = {"pk_CL": ("L/h", "clearance"), "pk_V1": ("L", "central volume"),
                    "pk_F": ("1", "intranasal bioavailability")}
        for name, (u, ln) in pk_units.items():
            write_variable(f, name, v[name], per_arm, u, f"individual {ln}")
        write_variable(f, "status", v["status"], per_arm, "1", "patient simulation status",
                       flag_values=np.array([0, 1, 2], dtype=np.int8),
                       flag_meanings="ok solver_failure invalid_parameters")
        for moiety in MOIETIES:
            c = v["conc_" + moiety]
            if concentration == "full":
                write_variable(f, "conc_" + moiety, c.astype(np.float32), per_arm + ["time"], "ng/mL",
                               f"plasma {moiety} concentration")
            if concentration in ("full", "summary"):
                # all-NaN slices (moieties an arm lacks) are expected here: no warning
                with np.errstate(invalid="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.nanmean(c, axis=-2)
                    sd = np.nanstd(c, axis=-2, ddof=1)
                dims = sweep_dims + ["arm", "time"]
                write_variable(f, f"conc_{moiety}_mean", mean, dims, "ng/mL", f"mean plasma {moiety} concentration")
                write_variable(f, f"conc_{moiety}_sd", sd, dims, "ng/mL", f"SD of plasma {moiety} concentration")
            for name, u, ln in (("cmax", "ng/mL", "peak"), ("tmax", "h", "time of peak"),
                                ("auc", "h*ng/mL", "AUC over the dosing interval of")):
                write_variable(f, f"{name}_{moiety}", v[f"{name}_{moiety}"], per_arm + ["dose"], u,
                               f"{ln} {moiety} concentration per dose")
        write_variable(f, "madrs", v["madrs"].astype(np.float32), per_arm + ["visit"], "1", "MADRS total score")
        write_variable(f, "baseline_madrs", v["baseline_madrs"].astype(np.float32), per_arm, "1", "MADRS at day 0")
        flag = dict(flag_values=np.array([0, 1], dtype=np.int8), flag_meanings="no yes")
        write_variable(f, "response", v["response"], per_arm, "1", "response at the primary visit", **flag)
        write_variable(f, "remission", v["remission"], per_arm, "1", "remission at the primary visit", **flag)
        write_variable(f, "relapse", v["relapse"], per_arm, "1", "relapse after response", **flag)
        write_variable(f, "madrs_change", v["madrs_change"], per_arm, "1", "MADRS change from baseline at the primary visit")

        config_yaml = config_text if config_text is not None else CONFIG_YAML % (n_patients, concentration)
        f.attrs.update({
            "software": "ketasim", "software_version": "0.0.0-synthetic", "git_commit": "synthetic",
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command_line": " ".join(sys.argv), "seed": np.int64(seed),
            "rng": "Philox4x64-10 (Random123), key (seed, stream), counter (patient index, draw)",
            "config_yaml": config_yaml,
            "config_json": json.dumps({"cohort": {"patients": n_patients}, "arms": data["arms"],
                                       "outputs": {"concentration": concentration},
                                       "sweep": {k: list(map(float, x)) for k, x in data["sweep_dims"].items()}}),
            "Conventions": "CF-1.8", "primary_visit_d": PRIMARY_VISIT_D,
            "remission_threshold": REMISSION_THRESHOLD,
        })
    os.replace(tmp, path)  # never leave a half-written file at the output path




def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output")
    p.add_argument("--patients", type=int, default=60)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--concentration", choices=["full", "summary", "none"], default="full")
    p.add_argument("--sweep", nargs="?", const="2d", choices=["1d", "2d"], default=None,
                   help="add sweep dimensions (default 2-D: dose_mg_per_kg x interval_d)")
    p.add_argument("--config", help="store this file verbatim as the config_yaml attribute")
    a = p.parse_args(argv)
    config_text = None
    if a.config:
        with open(a.config, encoding="utf-8", newline="") as fh:  # newline="": keep it byte-for-byte
            config_text = fh.read()
    write(a.output, a.patients, a.seed, a.concentration, a.sweep, config_text)
    print(a.output)


if __name__ == "__main__":
    main()
