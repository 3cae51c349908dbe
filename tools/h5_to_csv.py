#!/usr/bin/python3
"""Export a ketasim results file to CSV for spreadsheets, SAS, Stata, NONMEM-side tooling, ...

    /usr/bin/python3 tools/h5_to_csv.py results.h5 -o outdir/

Writes (sweep dimensions, when present, become leading columns of every file):
  patients.csv                one row per arm x patient: covariates, status, endpoints, pk_* parameters
  visits.csv                  one row per arm x patient x visit: madrs
  concentrations.csv          long format, one row per arm x patient x time x moiety
                              (only with `outputs.concentration: full`)
  concentration_summary.csv   one row per arm x time x moiety: mean and sd
                              (with `outputs.concentration: full` or `summary`)
  endpoints.csv               one row per arm: N, response and remission with Wilson 95% CIs
Prints the paths it wrote. Missing values are written as empty fields.
"""
import argparse
import os
import sys

import xarray as xr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ketasim_analysis as ka  # noqa: E402  (sibling module; tools/ is not a package)


def write_concentrations(ds, path):
    """Long-format concentrations, appended one (arm, moiety) block at a time so that a large
    file never has to fit in memory as a single data frame. Returns the rows written."""
    rows = 0
    header = True
    with open(path, "w", newline="") as out:
        for frame in ka.concentration_frames(ds):
            frame = frame.rename(columns={"time": "time_h", "concentration": "concentration_ng_per_mL"})
            frame.to_csv(out, index=False, header=header)
            header = False
            rows += len(frame)
    return rows


def write_concentration_summary(ds, path):
    """Mean and SD per arm x time x moiety, from conc_<moiety>_mean / _sd."""
    dims = ka.sweep_dims(ds) + ["arm", "time"]
    frames = []
    for moiety in ka.moieties(ds):
        mean, sd = f"conc_{moiety}_mean", f"conc_{moiety}_sd"
        if mean not in ds:
            continue
        sub = xr.Dataset({"mean_ng_per_mL": ds[mean].transpose(*dims), "sd_ng_per_mL": ds[sd].transpose(*dims)})
        frame = sub.to_dataframe(dim_order=dims).reset_index()
        frame.insert(len(dims), "moiety", moiety)
        frames.append(frame.dropna(subset=["mean_ng_per_mL"]))  # moieties an arm's model lacks
    if not frames:
        return None
    import pandas as pd
    frame = pd.concat(frames, ignore_index=True).rename(columns={"time": "time_h"})
    frame.to_csv(path, index=False)
    return path


def export(results, outdir):
    """Write every CSV the file's content allows; returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    paths = []
    with ka.load(results) as ds:
        patients = os.path.join(outdir, "patients.csv")
        ka.patients_frame(ds).to_csv(patients, index=False)
        paths.append(patients)

        visits = os.path.join(outdir, "visits.csv")
        visits_frame = ka.visits_frame(ds).rename(columns={"visit": "visit_d"})
        visits_frame.to_csv(visits, index=False)
        paths.append(visits)

        if any(f"conc_{m}" in ds for m in ka.moieties(ds)):
            conc = os.path.join(outdir, "concentrations.csv")
            write_concentrations(ds, conc)
            paths.append(conc)
        summary = write_concentration_summary(ds, os.path.join(outdir, "concentration_summary.csv"))
        if summary:
            paths.append(summary)

        endpoints = os.path.join(outdir, "endpoints.csv")
        ka.endpoint_table(ds).to_csv(endpoints, index=False, float_format="%.4f")
        paths.append(endpoints)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="results file written by `ketasim run`")
    parser.add_argument("-o", "--outdir", default=".", help="folder for the CSV files (created if needed)")
    args = parser.parse_args(argv)
    for path in export(args.results, args.outdir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
