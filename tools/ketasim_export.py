#!/usr/bin/python3
"""Export a ketasim results file as a NONMEM-style event data set or a long (tidy) table.

    /usr/bin/python3 tools/ketasim_export.py results.h5 --format nonmem -o sim.csv
    /usr/bin/python3 tools/ketasim_export.py results.h5 --format long -o sim.csv --every 24
    /usr/bin/python3 tools/ketasim_export.py results.h5 --format nonmem -o sim.csv --times 0.5 1 2 4 8 24

One row per record, sorted by ID, TIME (observations before a dose at the same time):

  ID     individual: one per arm x patient (x sweep point): ID = (point x arms + arm) x patients + patient + 1
  TIME   h after the first dose
  EVID   1 dose, 0 observation
  AMT    mg (dose rows)
  RATE   mg/h for infusions, 0 for bolus / intranasal / oral doses
  CMT    1 on dose rows (the route's dosing compartment: renumber for your own model), 2 on observations
  DVID   observation type: 1..k = the file's moieties in alphabetical order (printed by the command;
         `long` also names them in NAME), k+1 = MADRS
  MDV    1 when the row has no concentration (doses, MADRS rows)
  DV     concentration, ng/mL: with outputs.sampling_times in the run, the simulated observation
         (`dv_<moiety>`, IPRED with the model's residual error) at the sampling times; otherwise
         (or with --times/--every) IPRED on the output grid, without residual error
  IPRED  individual predicted concentration, ng/mL (`ipred_<moiety>` at sampling times, else
         `conc_<moiety>`, which needs outputs.concentration: full)
  MADRS  MADRS total score on visit rows (missing after dropout)
  ARM, PATIENT, WT, AGE, SEX (0 male, 1 female), sweep keys; `long` adds NAME (moiety, madrs or dose)
  PATIENT_ID  the patient's ID from the run's population file or event data set (`patient_id`),
         after SEX, when the results file has one

Missing values are `.` in the nonmem format (NONMEM's convention; pandas: na_values=".") and
empty fields in the long format. Patients whose simulation failed (status != 0) are left out.
Dose records come from the file's per-patient dose datasets when present, else from the regimen
in config_json (see ketasim_analysis.dose_records). The export reads back into ketasim as an event
data set (arms[].regimen.data): TIME is h since day 0, RATE keeps each dose's infusion, WT/AGE/SEX
are on every record, other columns are ignored (tests/python/test_event_data.py round-trips it).
"""
import argparse
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ketasim_analysis as ka  # noqa: E402  (sibling module; tools/ is not a package)

COLUMNS = ["ID", "TIME", "EVID", "AMT", "RATE", "CMT", "DVID", "MDV", "DV", "IPRED", "MADRS",
           "ARM", "PATIENT", "WT", "AGE", "SEX"]


def observation_times(ds, times=None, every=None):
    """Indices into the file's time grid: the requested times (each must be on the grid), every
    `every` hours, or all of them."""
    grid = ds["time"].values.astype(float)
    if times:
        idx = [int(np.argmin(np.abs(grid - t))) for t in times]
        off = [t for t, i in zip(times, idx) if abs(grid[i] - t) > 1e-6]
        if off:
            raise SystemExit(f"--times {off}: not on the file's output grid (step {grid[1] - grid[0]:g} h)")
        return np.array(sorted(set(idx)))
    if every:
        return np.flatnonzero(np.isclose(np.mod(grid + 1e-9, every), 0, atol=1e-6))
    return np.arange(grid.size)


def build(ds, fmt="nonmem", times=None, every=None, arms=None):
    """The export as a DataFrame (columns as in the module docstring)."""
    arms = ka.selected_arms(ds, arms)
    all_arms = [str(a) for a in ds["arm"].values]
    n_patients = ds.sizes["patient"]
    all_moieties = sorted(ka.moieties(ds))  # DVID order: alphabetical, whatever the file's order
    full = [m for m in all_moieties if ka.MOIETY_PREFIX + m in ds]
    if len(full) < len(all_moieties):
        print("note: this file has no per-patient concentrations (outputs.concentration is not full): "
              "only dose and MADRS records are written", file=sys.stderr)
    grid = ds["time"].values.astype(float) if "time" in ds else np.array([])
    sampled = "sample_time" in ds and not times and not every  # simulated observations, DV with error
    if sampled:
        full = [m for m in all_moieties if "ipred_" + m in ds]
    cols = observation_times(ds, times, every) if full and not sampled else np.array([], int)
    frames = []
    failed = 0
    for p_index, point in enumerate(ka.sweep_points(ds)):
        sub = ds.sel(point) if point else ds
        covariates = pd.DataFrame({"PATIENT": sub["patient"].values, "WT": sub["weight_kg"].values,
                                   "AGE": sub["age_y"].values, "SEX": sub["sex"].values})
        if "patient_id" in ds:
            covariates["PATIENT_ID"] = ds["patient_id"].values
        doses = ka.dose_records(ds, point, arms)
        for arm in arms:
            a = sub.sel(arm=arm)
            ok = a["status"].values == 0
            failed += int((~ok).sum())
            id_base = (p_index * len(all_arms) + all_arms.index(arm)) * n_patients + 1
            patients = a["patient"].values[ok]
            parts = []
            d = doses[(doses["arm"] == arm) & doses["patient"].isin(patients)]
            parts.append(pd.DataFrame({
                "PATIENT": d["patient"].to_numpy(), "TIME": d["time_h"].to_numpy(), "EVID": 1,
                "AMT": d["amount_mg"].to_numpy(),
                "RATE": np.where(d["duration_h"].to_numpy() > 0, d["amount_mg"].to_numpy() / np.where(
                    d["duration_h"].to_numpy() > 0, d["duration_h"].to_numpy(), 1.0), 0.0),
                "CMT": 1, "MDV": 1, "NAME": "dose"}))
            for k, moiety in enumerate(all_moieties):
                if moiety not in full:
                    continue
                if sampled:
                    obs_times = ds["sample_time"].values.astype(float)
                    conc = a["ipred_" + moiety].transpose("patient", "sample_time").values[ok].astype(float)
                    dv = a["dv_" + moiety].transpose("patient", "sample_time").values[ok].astype(float)
                else:
                    obs_times = grid[cols]
                    conc = a[ka.MOIETY_PREFIX + moiety].transpose("patient", "time").values[ok][:, cols].astype(float)
                    dv = conc
                if np.all(np.isnan(conc)):
                    continue  # the arm's model has no such moiety
                parts.append(pd.DataFrame({
                    "PATIENT": np.repeat(patients, obs_times.size), "TIME": np.tile(obs_times, patients.size),
                    "EVID": 0, "CMT": 2, "DVID": k + 1, "MDV": np.isnan(dv.ravel()).astype(np.int64),
                    "IPRED": conc.ravel(), "DV": dv.ravel(), "NAME": moiety}))
            madrs = a["madrs"].transpose("patient", "visit").values[ok].astype(float)
            visits_h = 24.0 * sub["visit"].values.astype(float)
            parts.append(pd.DataFrame({
                "PATIENT": np.repeat(patients, visits_h.size), "TIME": np.tile(visits_h, patients.size),
                "EVID": 0, "CMT": 2, "DVID": len(all_moieties) + 1, "MDV": 1, "MADRS": madrs.ravel(),
                "NAME": "madrs"}))
            block = pd.concat(parts, ignore_index=True)
            block["ARM"] = arm
            block["ID"] = id_base + block["PATIENT"].astype(np.int64)
            for key, value in point.items():
                block[key] = value
            frames.append(block.merge(covariates, on="PATIENT", how="left"))
    if failed:
        print(f"note: {failed} failed patient-arm(s) (status != 0) left out", file=sys.stderr)
    out = pd.concat(frames, ignore_index=True)
    for c in ("AMT", "RATE", "DVID", "DV", "IPRED", "MADRS"):
        if c not in out:
            out[c] = np.nan
    out = out.sort_values(["ID", "TIME", "EVID"], kind="stable").reset_index(drop=True)
    sweep = ka.sweep_dims(ds)
    columns = COLUMNS + (["PATIENT_ID"] if "patient_id" in ds else []) + sweep + (["NAME"] if fmt == "long" else [])
    out = out[columns]
    for c in ("ID", "EVID", "CMT", "MDV", "PATIENT", "SEX"):
        out[c] = out[c].astype(np.int64)
    return out


def write(frame, path, fmt):
    frame.to_csv(path, index=False, na_rep="." if fmt == "nonmem" else "", float_format="%.10g")


def main(argv=None):
    parser = argparse.ArgumentParser(description="NONMEM-style or long-format CSV from a ketasim results file.")
    parser.add_argument("results")
    parser.add_argument("--format", choices=("nonmem", "long"), default="nonmem")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--times", nargs="+", type=float, metavar="H", help="observation times (h, on the output grid)")
    parser.add_argument("--every", type=float, metavar="H", help="an observation every H hours (default: every output time)")
    parser.add_argument("--arms", nargs="+", metavar="ARM", help="arms to export (default: all)")
    args = parser.parse_args(argv)
    with ka.load(args.results) as ds:
        frame = build(ds, args.format, args.times, args.every, args.arms)
        names = sorted(ka.moieties(ds)) + ["madrs"]
    write(frame, args.output, args.format)
    print(f"{args.output}: {len(frame)} rows, {frame['ID'].nunique()} individuals; DVID "
          + ", ".join(f"{i + 1} = {n}" for i, n in enumerate(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
