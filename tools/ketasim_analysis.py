#!/usr/bin/python3
"""Analyse a ketasim results file (docs/results-format.md): tables, data frames and figures.

As a module (run with Debian's /usr/bin/python3, which has xarray, h5netcdf and matplotlib):

    import ketasim_analysis as ka
    ds = ka.load("results.h5")
    patients = ka.patients_frame(ds)     # one row per [sweep point x] arm x patient
    visits = ka.visits_frame(ds)         # one row per [sweep point x] arm x patient x visit
    table = ka.endpoint_table(ds)        # per-arm response / remission with Wilson 95% CIs

As a command:

    /usr/bin/python3 tools/ketasim_analysis.py plot results.h5 -o figures/ [--format svg] [--arms A B] [--log-y]
    /usr/bin/python3 tools/ketasim_analysis.py vpc results.h5 --observed obs.csv --moiety esketamine -o figures/
    /usr/bin/python3 tools/ketasim_analysis.py table results.h5

Rates count patients whose `status` is 0 (ok): failed patients are excluded from numerator and
denominator; dropouts count as the file's flags say (the writer stores them as non-responders).
"""
import argparse
import math
import os
import sys

import numpy as np
import pandas as pd
import xarray as xr

Z95 = 1.959963984540054  # two-sided 95% normal quantile
MOIETY_PREFIX = "conc_"


# ---------------------------------------------------------------------------------------------
# Loading and structure
# ---------------------------------------------------------------------------------------------

def load(path):
    """Open a results file lazily with the h5netcdf engine.

    decode_timedelta=False keeps `time`/`visit` numeric even if a writer ever used "hours" or
    "days" (which xarray would turn into timedeltas); the contract's "h" and "d" stay numeric anyway.
    """
    return xr.open_dataset(path, engine="h5netcdf", decode_timedelta=False)


def sweep_dims(ds):
    """Swept dimensions, in file order: every axis of `remission` except arm and patient."""
    return [d for d in ds["remission"].dims if d not in ("arm", "patient")]


def sweep_points(ds):
    """All sweep points as a list of {dim: value} dicts ([{}] without a sweep)."""
    dims = sweep_dims(ds)
    if not dims:
        return [{}]
    index = pd.MultiIndex.from_product([ds[d].values for d in dims], names=dims)
    return [dict(zip(dims, values)) for values in index]


def point_label(point):
    """'dose_mg_per_kg=0.5, interval_d=7' (empty without a sweep)."""
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in point.items())


def _fmt_value(v):
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def moieties(ds):
    """Moieties with concentration data, from `conc_<moiety>` or `conc_<moiety>_mean` names."""
    found = []
    for name in ds.data_vars:
        if not name.startswith(MOIETY_PREFIX):
            continue
        moiety = name[len(MOIETY_PREFIX):]
        if moiety.endswith("_mean"):
            moiety = moiety[:-len("_mean")]
        elif moiety.endswith("_sd"):
            continue
        if moiety not in found:
            found.append(moiety)
    return found


def ok_mask(ds):
    """True where the patient's simulation succeeded (status 0)."""
    return ds["status"] == 0


def flag_meanings(var):
    """{value: meaning} from CF flag_values / flag_meanings attributes."""
    values = np.atleast_1d(var.attrs.get("flag_values", []))
    meanings = str(var.attrs.get("flag_meanings", "")).split()
    return {int(v): m for v, m in zip(values, meanings)}


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------

def wilson_ci(k, n, z=Z95):
    """Wilson score interval for k successes out of n: (proportion, low, high); NaNs when n == 0.

    Preferred over the Wald interval because it stays inside [0, 1] and keeps its coverage
    near 0% and 100%, which is where remission rates in small arms often sit.
    """
    if n == 0:
        return (math.nan, math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Analytically low = 0 at k = 0 and high = 1 at k = n; rounding can leave them a hair inside p
    # (1e-17), which matplotlib rejects as a negative error bar.
    return (p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def endpoint_table(ds):
    """One row per sweep point x arm: N, responders, remitters, rates and Wilson CIs (in %),
    and mean MADRS change among ok patients with a primary-visit score."""
    ok = ok_mask(ds)
    n = ok.sum("patient")
    responders = ((ds["response"] == 1) & ok).sum("patient")
    remitters = ((ds["remission"] == 1) & ok).sum("patient")
    change = ds["madrs_change"].where(ok).mean("patient") if "madrs_change" in ds else None
    rows = []
    for point in sweep_points(ds):
        for arm in ds["arm"].values:
            sel = dict(point, arm=arm)
            n_i = int(n.sel(sel))
            row = dict(point)
            row.update(arm=str(arm), n=n_i)
            for name, counts in (("response", responders), ("remission", remitters)):
                k = int(counts.sel(sel))
                p, lo, hi = wilson_ci(k, n_i)
                row.update({f"{name}_n": k, f"{name}_pct": 100 * p,
                            f"{name}_lo": 100 * lo, f"{name}_hi": 100 * hi})
            row["madrs_change_mean"] = float(change.sel(sel)) if change is not None else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def newcombe_difference(k1, n1, k2, n2, z=Z95):
    """Difference p1 - p2 with Newcombe's hybrid score 95% CI (method 10), as `ketasim run` prints:
    (difference, low, high), NaNs when either arm is empty."""
    p1, l1, u1 = wilson_ci(k1, n1, z)
    p2, l2, u2 = wilson_ci(k2, n2, z)
    if math.isnan(p1) or math.isnan(p2):
        return (math.nan, math.nan, math.nan)
    d = p1 - p2
    return (d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def mean_difference(a, b, z=Z95):
    """Mean of a minus mean of b (NaNs ignored) with a normal-quantile CI on the Welch standard
    error, as `ketasim run` prints it: (difference, low, high)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size < 2 or b.size < 2:
        return (math.nan, math.nan, math.nan)
    d = a.mean() - b.mean()
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return (d, d - z * se, d + z * se)


def reference_differences(ds, reference, point=None, arms=None):
    """Per non-reference arm: response and remission differences (percentage points, Newcombe 95% CI)
    and the mean MADRS change difference (points, Welch SE), each as arm - reference, at one sweep
    point. Returns a DataFrame with columns arm, endpoint, difference, low, high, unit."""
    point = point or {}
    sub = ds.sel(point) if point else ds
    ok = (sub["status"] == 0)
    arms = arms or [str(a) for a in sub["arm"].values]
    ref = sub.sel(arm=reference)
    ref_ok = ok.sel(arm=reference).values
    rows = []
    for arm in arms:
        if arm == reference:
            continue
        a = sub.sel(arm=arm)
        a_ok = ok.sel(arm=arm).values
        for name in ("response", "remission"):
            d, lo, hi = newcombe_difference(int(((a[name].values == 1) & a_ok).sum()), int(a_ok.sum()),
                                            int(((ref[name].values == 1) & ref_ok).sum()), int(ref_ok.sum()))
            rows.append(dict(arm=arm, endpoint=name, difference=100 * d, low=100 * lo, high=100 * hi,
                             unit="percentage points"))
        if "madrs_change" in sub:
            d, lo, hi = mean_difference(a["madrs_change"].values[a_ok], ref["madrs_change"].values[ref_ok])
            rows.append(dict(arm=arm, endpoint="madrs_change", difference=d, low=lo, high=hi, unit="MADRS points"))
    return pd.DataFrame(rows, columns=["arm", "endpoint", "difference", "low", "high", "unit"])


def endpoint_rules(ds):
    """(remission threshold, response fraction, imputation) from the file's attributes and config_json."""
    import json
    threshold = float(ds.attrs.get("remission_threshold", 12))
    fraction, imputation = 0.5, "non_responder"
    try:
        endpoints = json.loads(ds.attrs["config_json"]).get("endpoints", {})
        fraction = float(endpoints.get("response_fraction", fraction))
        imputation = (endpoints.get("dropout") or {}).get("imputation", imputation)
    except (KeyError, ValueError, TypeError):
        pass
    return threshold, fraction, imputation


def rates_over_visits(ds, point=None, arms=None):
    """Response and remission at every visit after baseline, per arm, with Wilson 95% CIs (in %).

    The flags are the engine's own (`response_by_visit`, `remission_by_visit`: EndpointRules in
    src/trial/endpoint_rules.cpp, dropout imputation included), counted over ok patients; the rules
    are not re-derived here. Returns a DataFrame: arm, visit, n, response_n/_pct/_lo/_hi, remission_...
    """
    point = point or {}
    sub = ds.sel(point) if point else ds
    if "response_by_visit" not in sub:
        raise SystemExit("this results file has no per-visit flags (response_by_visit): it was written by an older "
                         "ketasim; rerun it to plot rates over visits")
    days = sub["visit"].values.astype(float)
    rows = []
    for arm in arms or [str(a) for a in sub["arm"].values]:
        a = sub.sel(arm=arm)
        ok = a["status"].values == 0
        responders = a["response_by_visit"].transpose("patient", "visit").values[ok] == 1
        remitters = a["remission_by_visit"].transpose("patient", "visit").values[ok] == 1
        n = int(ok.sum())
        for j, day in enumerate(days):
            if day <= 0:
                continue
            row = dict(arm=arm, visit=day, n=n)
            for name, flags in (("response", responders[:, j]), ("remission", remitters[:, j])):
                p, lo, hi = wilson_ci(int(flags.sum()), n)
                row.update({f"{name}_n": int(flags.sum()), f"{name}_pct": 100 * p, f"{name}_lo": 100 * lo,
                            f"{name}_hi": 100 * hi})
            rows.append(row)
    return pd.DataFrame(rows)


def format_table(table, dims):
    """Human-readable text of endpoint_table(), one block per sweep point."""
    lines = []
    groups = table.groupby(dims if len(dims) > 1 else dims[0], sort=False) if dims else [((), table)]
    width = max(12, max(len(a) for a in table["arm"]) + 2)
    for key, block in groups:
        if dims:
            key = key if isinstance(key, tuple) else (key,)
            lines.append("sweep point: " + point_label(dict(zip(dims, key))))
        lines.append(f"{'arm':<{width}}{'N':>6}  {'response % [95% CI]':<24}{'remission % [95% CI]':<24}"
                     f"{'mean MADRS change':>18}")
        for _, r in block.iterrows():
            lines.append(
                f"{r['arm']:<{width}}{r['n']:>6}  "
                f"{r['response_pct']:5.1f}% [{r['response_lo']:4.1f}, {r['response_hi']:5.1f}]   "
                f"{r['remission_pct']:5.1f}% [{r['remission_lo']:4.1f}, {r['remission_hi']:5.1f}]   "
                f"{r['madrs_change_mean']:>12.1f}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# Data frames
# ---------------------------------------------------------------------------------------------

def _per_patient_vars(ds):
    """Variables whose axes are (sweep..., arm, patient) or (patient): one value per patient."""
    allowed = set(sweep_dims(ds)) | {"arm", "patient"}
    return [name for name, v in ds.data_vars.items()
            if "patient" in v.dims and set(v.dims) <= allowed]


def patients_frame(ds):
    """One row per [sweep point x] arm x patient: covariates, endpoints, status and pk_* parameters.

    Patient-level covariates (weight_kg, age_y, sex) are shared by all arms and get repeated on
    each arm's row. Readable labels are added next to the flag codes (status_label, sex_label).
    """
    names = _per_patient_vars(ds)
    order = sweep_dims(ds) + ["arm", "patient"]
    # Broadcast covariates over arm (and sweep) first, so to_dataframe() keeps one row per arm x patient.
    template = ds["status"]
    sub = xr.Dataset({n: ds[n].broadcast_like(template).transpose(*order) for n in names})
    frame = sub.to_dataframe(dim_order=order).reset_index()
    for name in ("status", "sex"):
        if name in ds:
            frame[name + "_label"] = frame[name].map(flag_meanings(ds[name]))
    front = order + [c for c in ("weight_kg", "age_y", "sex", "sex_label", "status", "status_label",
                                 "baseline_madrs", "madrs_change", "response", "remission", "relapse")
                     if c in frame]
    rest = sorted(c for c in frame.columns if c not in front)
    return frame[front + rest]


def visits_frame(ds):
    """One row per [sweep point x] arm x patient x visit with the MADRS score (NaN after dropout)."""
    order = sweep_dims(ds) + ["arm", "patient", "visit"]
    return ds["madrs"].transpose(*order).to_dataframe().reset_index()


def concentration_frames(ds):
    """Long-format concentrations, yielded one (arm, moiety) block at a time to bound memory.

    Columns: sweep dims, arm, patient, time, moiety, concentration. (arm, moiety) pairs that are
    NaN for every patient (the arm's model does not have that moiety) are skipped; NaNs of failed
    patients are kept so that they stay visible.
    """
    dims = sweep_dims(ds)
    for moiety in moieties(ds):
        name = MOIETY_PREFIX + moiety
        if name not in ds:
            continue
        for arm in ds["arm"].values:
            block = ds[name].sel(arm=arm)
            if not bool(block.notnull().any()):
                continue
            frame = block.transpose(*dims, "patient", "time").to_dataframe(name="concentration").reset_index()
            frame["arm"] = str(arm)
            frame["moiety"] = moiety
            yield frame[dims + ["arm", "patient", "time", "moiety", "concentration"]]


# ---------------------------------------------------------------------------------------------
# Figures
#
# Every figure is built by a `figure_*` function that returns a matplotlib Figure (tests read the
# plotted data back from its artists) and saved by `plot_all` / `plot_vpc`. Artists that carry data
# have stable labels: "median", "mean", "5th-95th percentile", "observed ...", or the arm's name.
# ---------------------------------------------------------------------------------------------

FORMATS = ("png", "pdf", "svg")
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), then tab10.
ARM_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
               "#8c564b", "#7f7f7f"]
BAND_PERCENTILES = (5, 50, 95)


class PlotOptions:
    """What the `plot` command's options select: arms, log-y, time window (h), reference arm,
    sweep point, output format."""

    def __init__(self, arms=None, log_y=False, time_window=None, reference=None, point=None, fmt="png"):
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: expected one of {FORMATS}")
        self.arms, self.log_y, self.time_window = arms, log_y, time_window
        self.reference, self.point, self.fmt = reference, point or {}, fmt


def _pyplot():
    """matplotlib with the non-interactive Agg backend (works without a display)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _title(text, point):
    import textwrap
    return textwrap.fill(text, 95) + (f"\n({point_label(point)})" if point else "")


def arm_colors(ds):
    """One fixed colour per arm, by the arm's position in the file: the same in every figure,
    whichever arms a figure shows (`--arms`)."""
    return {str(a): ARM_PALETTE[i % len(ARM_PALETTE)] for i, a in enumerate(ds["arm"].values)}


def selected_arms(ds, arms=None):
    """The arms to draw, in file order; unknown names are an error that lists the file's arms."""
    names = [str(a) for a in ds["arm"].values]
    if not arms:
        return names
    unknown = [a for a in arms if a not in names]
    if unknown:
        raise SystemExit(f"--arms: {', '.join(unknown)} not in the file; its arms are {', '.join(names)}")
    return [a for a in names if a in arms]


def _panel_grid(plt, n, width=5.2, height=3.8, sharey=True):
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(8.5, width * cols + 0.6), height * rows + 1.2), dpi=120,
                             squeeze=False, sharex=True, sharey=sharey)
    flat = axes.ravel().tolist()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _time_axis(t_h, window):
    """(mask, scale, label): the window's cells, hours or days on the axis."""
    mask = np.ones(t_h.shape, bool) if window is None else (t_h >= window[0]) & (t_h <= window[1])
    span = t_h[mask].max() - t_h[mask].min() if mask.any() else 0.0
    if span > 72:
        return mask, 24.0, "Time after first dose (d)"
    return mask, 1.0, "Time after first dose (h)"


def concentration_percentiles(ds, moiety, arm, point=None):
    """5th, 50th, 95th percentiles across ok patients per time (rows), from `conc_<moiety>`; None
    when the arm has no such moiety or it is zero throughout (placebo)."""
    point = point or {}
    name = MOIETY_PREFIX + moiety
    conc = ds[name].sel(point).sel(arm=arm).where(ok_mask(ds).sel(point).sel(arm=arm))
    values = conc.transpose("patient", "time").values.astype(float)
    if np.all(np.isnan(values)) or np.nanmax(values) <= 0:
        return None
    with np.errstate(invalid="ignore"), _quiet_warnings():
        return np.nanpercentile(values, BAND_PERCENTILES, axis=0)


def figure_concentration(ds, moiety, opts):
    """One panel per arm: median and 5th-95th percentile band across patients (`full` output).
    A `summary` file holds only the mean and SD per time: the panel then shows the mean alone and
    says that percentiles need `outputs.concentration: full` (mean +/- SD would be a symmetric band
    on a skewed, positive quantity). None when no selected arm has the moiety."""
    plt = _pyplot()
    full = MOIETY_PREFIX + moiety
    t_h = ds["time"].values.astype(float)
    mask, scale, xlabel = _time_axis(t_h, opts.time_window)
    colors = arm_colors(ds)
    curves = {}
    for arm in selected_arms(ds, opts.arms):
        if full in ds:
            bands = concentration_percentiles(ds, moiety, arm, opts.point)
            if bands is not None:
                curves[arm] = ("percentiles", bands)
        elif full + "_mean" in ds:
            mean = ds[full + "_mean"].sel(opts.point).sel(arm=arm).values.astype(float)
            if not (np.all(np.isnan(mean)) or np.nanmax(mean) <= 0):
                curves[arm] = ("mean", mean)
    if not curves:
        return None
    units = ds[full if full in ds else full + "_mean"].attrs.get("units", "ng/mL")
    fig, axes = _panel_grid(plt, len(curves))
    summary_only = False
    positive_max = 0.0
    for ax, (arm, (kind, data)) in zip(axes, curves.items()):
        c = colors[arm]
        x = t_h[mask] / scale
        if kind == "percentiles":
            p5, p50, p95 = (row[mask] for row in data)
            ax.fill_between(x, p5, p95, color=c, alpha=0.25, linewidth=0, label="5th-95th percentile")
            ax.plot(x, p50, color=c, linewidth=1.4, label="median")
            positive_max = max(positive_max, np.nanmax(p95))
        else:
            summary_only = True
            ax.plot(x, data[mask], color=c, linewidth=1.4, label="mean")
            positive_max = max(positive_max, np.nanmax(data[mask]))
        ax.set_title(arm, color=c, fontweight="bold")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    for ax in axes:
        if opts.log_y:
            ax.set_yscale("log", nonpositive="mask")
            # Four decades below the highest value: troughs of 1e-12 ng/mL are numerically zero.
            ax.set_ylim(positive_max * 1e-4, positive_max * 2)
        else:
            ax.set_ylim(bottom=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{moiety} ({units})")
    head = "median and 5th-95th percentile across patients" if not summary_only else "mean across patients"
    fig.suptitle(_title(f"Plasma {moiety} concentration: {head}", opts.point))
    if summary_only:
        fig.text(0.5, 0.005, "This file has outputs.concentration: summary (mean and SD only): percentile bands "
                 "need outputs.concentration: full.", ha="center", va="bottom", fontsize="small", style="italic")
    fig.tight_layout(rect=(0, 0.03 if summary_only else 0, 1, 1))
    return fig


def madrs_percentiles(ds, arm, point=None):
    """(p5, p50, p95, mean) of MADRS per visit across ok patients still in the study."""
    point = point or {}
    m = ds["madrs"].sel(point).sel(arm=arm).where(ok_mask(ds).sel(point).sel(arm=arm))
    values = m.transpose("patient", "visit").values.astype(float)
    with np.errstate(invalid="ignore"), _quiet_warnings():
        p5, p50, p95 = np.nanpercentile(values, BAND_PERCENTILES, axis=0)
        return p5, p50, p95, np.nanmean(values, axis=0)


def figure_madrs_course(ds, opts):
    """One panel per arm: MADRS median, 5th-95th percentile band and mean per visit."""
    plt = _pyplot()
    colors = arm_colors(ds)
    arms = selected_arms(ds, opts.arms)
    days = ds["visit"].values.astype(float)
    fig, axes = _panel_grid(plt, len(arms))
    threshold = ds.attrs.get("remission_threshold")
    primary = ds.attrs.get("primary_visit_d")
    for ax, arm in zip(axes, arms):
        c = colors[arm]
        p5, p50, p95, mean = madrs_percentiles(ds, arm, opts.point)
        ax.fill_between(days, p5, p95, color=c, alpha=0.2, linewidth=0, label="5th-95th percentile")
        ax.plot(days, p50, "-o", color=c, markersize=3.5, label="median")
        ax.plot(days, mean, "--", color=c, linewidth=1, label="mean")
        if threshold is not None:
            ax.axhline(float(threshold), color="grey", linestyle=":", linewidth=1,
                       label=f"remission (MADRS ≤ {float(threshold):g})")
        if primary is not None:
            ax.axvline(float(primary), color="black", linestyle=":", linewidth=1, label="primary visit")
        ax.set_title(arm, color=c, fontweight="bold")
        ax.set_xlabel("Visit (days after first dose)")
        ax.set_ylabel("MADRS total (0-60)")
        ax.set_ylim(0, 60)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize="small")
    fig.suptitle(_title("MADRS over the study, across patients", opts.point))
    fig.tight_layout()
    return fig


def figure_rates_over_visits(ds, opts):
    """Response and remission at every visit (two panels), a line per arm with Wilson 95% CI band."""
    plt = _pyplot()
    colors = arm_colors(ds)
    table = rates_over_visits(ds, opts.point, selected_arms(ds, opts.arms))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), dpi=120, sharey=True)
    threshold, fraction, imputation = endpoint_rules(ds)
    for ax, name, rule in ((axes[0], "response", f"MADRS reduced ≥ {100 * fraction:g}% from baseline"),
                           (axes[1], "remission", f"MADRS ≤ {threshold:g}")):
        for arm, block in table.groupby("arm", sort=False):
            c = colors[arm]
            ax.fill_between(block["visit"], block[f"{name}_lo"], block[f"{name}_hi"], color=c, alpha=0.15,
                            linewidth=0)
            ax.plot(block["visit"], block[f"{name}_pct"], "-o", color=c, markersize=3.5, label=arm)
        ax.set_title(f"{name.capitalize()} ({rule})")
        ax.set_xlabel("Visit (days after first dose)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Patients (%), band: Wilson 95% CI")
    axes[0].legend(loc="upper left", fontsize="small")
    dropouts = "dropouts count as non-responders" if imputation != "locf" else "dropouts: last observation carried forward"
    fig.suptitle(_title(f"Response and remission over visits ({dropouts})", opts.point))
    fig.tight_layout()
    return fig


def figure_endpoints(ds, opts):
    """Response (solid) and remission (hatched) at the primary visit, bars in the arm's colour with
    Wilson 95% CIs."""
    plt = _pyplot()
    colors = arm_colors(ds)
    table = endpoint_table(ds)
    for k, v in opts.point.items():
        table = table[table[k] == v]
    table = table[table["arm"].isin(selected_arms(ds, opts.arms))]
    arms = list(table["arm"])
    x = np.arange(len(arms))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(7, 1.8 * len(arms) + 3), 5.5), dpi=120)
    for offset, name, hatch in ((-width / 2, "response", None), (width / 2, "remission", "//")):
        pct = table[f"{name}_pct"].to_numpy()
        err = np.vstack([pct - table[f"{name}_lo"].to_numpy(), table[f"{name}_hi"].to_numpy() - pct])
        bars = ax.bar(x + offset, pct, width, color=[colors[a] for a in arms], alpha=0.85 if hatch is None else 0.45,
                      hatch=hatch, edgecolor="black", linewidth=0.6, yerr=err, capsize=4, label=name)
        for bar, p, hi in zip(bars, pct, table[f"{name}_hi"].to_numpy()):
            ax.annotate(f"{p:.0f}%", (bar.get_x() + bar.get_width() / 2, hi + 1), ha="center", va="bottom",
                        fontsize="small")
    ax.set_xticks(x, [f"{a}\n(N={n})" for a, n in zip(arms, table["n"])])
    threshold, fraction, _ = endpoint_rules(ds)
    primary = ds.attrs.get("primary_visit_d")
    ax.set_title(_title(f"Response (solid) and remission (hatched) at day {float(primary or 0):g}"
                        f" (remission: MADRS ≤ {threshold:g}); whiskers: Wilson 95% CI", opts.point))
    ax.set_ylabel("Patients (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def figure_forest(ds, opts):
    """Differences of each arm vs the reference arm at the primary visit: response and remission in
    percentage points (Newcombe 95% CI), mean MADRS change in points (Welch SE, normal 95% CI).
    None with fewer than two arms."""
    plt = _pyplot()
    arms = selected_arms(ds, opts.arms)
    reference = opts.reference or arms[0]
    if reference not in [str(a) for a in ds["arm"].values]:
        raise SystemExit(f"--reference {reference}: not an arm of the file")
    if reference not in arms:
        arms = [reference] + arms
    if len(arms) < 2:
        return None
    table = reference_differences(ds, reference, opts.point, arms)
    colors = arm_colors(ds)
    others = [a for a in arms if a != reference]
    has_change = (table["endpoint"] == "madrs_change").any()
    fig, axes = plt.subplots(1, 2 if has_change else 1, figsize=(12 if has_change else 7, max(4.2, 1.6 + 0.7 * len(others) * 2)),
                             dpi=120, squeeze=False, width_ratios=[2, 1] if has_change else None)
    axes = axes[0]
    panels = [(axes[0], ("response", "remission"), "Difference vs reference (percentage points)")]
    if has_change:
        panels.append((axes[1], ("madrs_change",), "Difference in MADRS change (points)"))
    for ax, endpoints, xlabel in panels:
        labels = []
        y = 0
        for endpoint in endpoints:
            for arm in others:
                row = table[(table["arm"] == arm) & (table["endpoint"] == endpoint)].iloc[0]
                ax.errorbar([row["difference"]], [y], xerr=[[row["difference"] - row["low"]], [row["high"] - row["difference"]]],
                            fmt="o", color=colors[arm], capsize=4, markersize=6, label=f"{arm}:{endpoint}")
                ax.annotate(f"{row['difference']:+.1f} [{row['low']:.1f}, {row['high']:.1f}]", (row["high"], y),
                            xytext=(6, 0), textcoords="offset points", va="center", fontsize="small")
                labels.append(f"{endpoint.replace('_', ' ')}\n{arm}")
                y += 1
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", alpha=0.3)
        lo, hi = ax.get_xlim()
        lo, hi = min(lo, -0.05 * (hi - lo)), max(hi, 0.05 * (hi - lo))  # 0 (no difference) always in view
        ax.set_xlim(lo, hi + 0.35 * (hi - lo))  # room for the value labels
    primary = ds.attrs.get("primary_visit_d")
    fig.suptitle(_title(f"Arm minus reference arm '{reference}' at day {float(primary or 0):g}, 95% CIs", opts.point))
    fig.tight_layout()
    return fig


def _text_color(rgba):
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def figure_sweep(ds, opts):
    """Remission against the swept value(s): a line per arm for one swept key; for two, a heatmap
    per arm whose colour scale spans the data shown, each cell with its rate and Wilson 95% CI
    (further swept keys held at their first value, as the title says). None without a sweep."""
    plt = _pyplot()
    dims = sweep_dims(ds)
    if not dims:
        return None
    arms = selected_arms(ds, opts.arms)
    table = endpoint_table(ds)
    table = table[table["arm"].isin(arms)]
    held = {d: ds[d].values[0] for d in dims[2:]}
    for k, v in held.items():
        table = table[table[k] == v]
    held_note = f"\n(held at {point_label(held)})" if held else ""
    units = {d: ds[d].attrs.get("units", "1") for d in dims}

    def axis_label(d):
        return f"{d} ({units[d]})" if units[d] not in ("", "1") else d

    colors = arm_colors(ds)
    if len(dims) == 1:
        d = dims[0]
        numeric = np.issubdtype(ds[d].dtype, np.number)
        fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
        for arm, block in table.groupby("arm", sort=False):
            xs = block[d].to_numpy() if numeric else np.arange(len(block))
            pct = block["remission_pct"].to_numpy()
            err = np.vstack([pct - block["remission_lo"].to_numpy(), block["remission_hi"].to_numpy() - pct])
            ax.errorbar(xs, pct, yerr=err, fmt="-o", capsize=3, color=colors[arm], label=arm)
        if not numeric:
            ax.set_xticks(np.arange(ds.sizes[d]), [str(v) for v in ds[d].values])
        ax.set_title(f"Remission at the primary visit vs {d} (whiskers: Wilson 95% CI){held_note}")
        ax.set_xlabel(axis_label(d))
        ax.set_ylabel("Remission (% of patients)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        return fig

    dy, dx = dims[0], dims[1]
    grids = {}
    for arm in arms:
        block = table[table["arm"] == arm]
        grids[arm] = {k: block.pivot(index=dy, columns=dx, values=f"remission_{k}").reindex(
            index=ds[dy].values, columns=ds[dx].values).to_numpy() for k in ("pct", "lo", "hi")}
    every = np.concatenate([g["pct"].ravel() for g in grids.values()])
    vmin, vmax = float(np.nanmin(every)), float(np.nanmax(every))
    if vmax - vmin < 1:  # a flat grid still gets a readable scale
        vmin, vmax = vmin - 0.5, vmax + 0.5
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(arms), figsize=(4.6 * len(arms) + 1.5, 5.2), dpi=120, squeeze=False,
                             sharey=True, layout="constrained")
    image = None
    for ax, arm in zip(axes[0], arms):
        g = grids[arm]
        image = ax.imshow(g["pct"], origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
        for (i, j), v in np.ndenumerate(g["pct"]):
            ax.text(j, i, f"{v:.0f}%\n[{g['lo'][i, j]:.0f}, {g['hi'][i, j]:.0f}]", ha="center", va="center",
                    fontsize="x-small", color=_text_color(cmap((v - vmin) / (vmax - vmin))))
        ax.set_xticks(np.arange(g["pct"].shape[1]), [_fmt_value(v) for v in ds[dx].values])
        ax.set_yticks(np.arange(g["pct"].shape[0]), [_fmt_value(v) for v in ds[dy].values])
        ax.set_xlabel(axis_label(dx))
        ax.set_title(arm, color=colors[arm], fontweight="bold")
    axes[0][0].set_ylabel(axis_label(dy))
    fig.colorbar(image, ax=axes[0].tolist(), label="Remission at the primary visit (%); cells: [Wilson 95% CI]")
    fig.suptitle(f"Remission over the {dy} x {dx} grid, per arm{held_note}")
    return fig


def plot_all(ds, outdir, opts=None):
    """Every figure that the file's content allows, saved in opts.fmt; returns the written paths.

    Per-patient figures need one sweep point: opts.point ({dim: value}) or else the first one.
    """
    opts = opts or PlotOptions()
    os.makedirs(outdir, exist_ok=True)
    if not opts.point:
        opts.point = sweep_points(ds)[0]
    figures = []
    for moiety in moieties(ds):
        figures.append((f"concentration_{moiety}", figure_concentration(ds, moiety, opts)))
    figures += [("madrs_course", figure_madrs_course(ds, opts)),
                ("rates_over_visits", figure_rates_over_visits(ds, opts)),
                ("endpoints", figure_endpoints(ds, opts)),
                ("forest", figure_forest(ds, opts))]
    if len(sweep_dims(ds)) == 1:
        figures.append(("sweep_remission", figure_sweep(ds, opts)))
    elif sweep_dims(ds):
        figures.append(("sweep_remission_heatmap", figure_sweep(ds, opts)))
    return [save_figure(fig, outdir, name, opts.fmt) for name, fig in figures if fig is not None]


def save_figure(fig, outdir, name, fmt="png"):
    plt = _pyplot()
    path = os.path.join(outdir, f"{name}.{fmt}")
    fig.savefig(path, format=fmt)
    plt.close(fig)
    return path


class _quiet_warnings:
    """nanpercentile / nanmean warn on all-NaN columns (e.g. every patient dropped out by then)."""
    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# ---------------------------------------------------------------------------------------------
# Dosing records
# ---------------------------------------------------------------------------------------------

_UNIT_FACTORS = {"h": 1.0, "min": 1 / 60, "s": 1 / 3600, "d": 24.0, "day": 24.0, "days": 24.0, "w": 168.0,
                 "week": 168.0, "weeks": 168.0, "mg": 1.0, "g": 1000.0, "ug": 1e-3, "mg/kg": 1.0,
                 "ug/kg": 1e-3, "mg/h": 1.0, "mg/min": 60.0}


def _quantity(value, default_unit):
    """'3.5d' -> 84.0 (h), '0.5 mg/kg' -> (0.5, True): the config's quantities in canonical units
    (h, mg, mg/h), as src/core/units.cpp converts them. Returns (value, per_kg)."""
    if isinstance(value, (int, float)):
        return float(value) * _UNIT_FACTORS[default_unit], False
    import re
    m = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*", str(value))
    if not m or (m.group(2) or default_unit) not in _UNIT_FACTORS:
        raise ValueError(f"cannot read the quantity {value!r}")
    unit = m.group(2) or default_unit
    return float(m.group(1)) * _UNIT_FACTORS[unit], unit.endswith("/kg")


def nominal_sessions(regimen):
    """The sessions a regimen (one arm's `regimen` from config_json) schedules, as src/pk/regimen.cpp
    expands them: list of (time_h, dose, devices). A phase starts one interval of the previous
    phase after that phase's last dose (as the engine does and `ketasim check` prints; e.g. day 28
    after twice-weekly doses up to day 24.5); `until` is exclusive; intranasal sessions are whole
    devices."""
    route = regimen["route"]
    dose, _ = _quantity(regimen["dose"], "mg")
    device_dose = _quantity(regimen.get("device_dose", "28 mg"), "mg")[0] if route == "intranasal" else 0.0
    devices = 1
    if route == "intranasal":
        devices = int(regimen["devices"]) if "devices" in regimen else max(1, round(dose / device_dose))
    sessions = []
    next_h = _quantity(regimen.get("start", 0), "h")[0]
    for phase in regimen["schedule"]:
        every = _quantity(phase.get("every", phase.get("ii")), "h")[0]
        count = int(phase["count"]) if "count" in phase else (int(phase["addl"]) + 1 if "addl" in phase else None)
        until = _quantity(phase["until"], "h")[0] if "until" in phase else None
        phase_dose = _quantity(phase["dose"], "mg")[0] if "dose" in phase else dose
        phase_devices = devices
        if route == "intranasal":
            if "devices" in phase:
                phase_devices = int(phase["devices"])
            elif "dose" in phase and phase_dose > 0:
                phase_devices = round(phase_dose / device_dose)
            if phase_dose > 0:
                phase_dose = phase_devices * device_dose
        last = next_h - every
        k = 0
        while True:
            t = next_h + k * every
            if (k >= count) if count is not None else (t >= until - 1e-9):
                break
            sessions.append((t, phase_dose, phase_devices))
            last = t
            k += 1
        next_h = last + every
    return sessions


def _arm_regimens(ds):
    import json
    config = json.loads(ds.attrs["config_json"])
    return {arm["name"]: arm["regimen"] for arm in config["arms"]}


def dose_records(ds, point=None, arms=None):
    """One row per dose actually given: arm, patient, time_h, amount_mg, duration_h (infusions),
    route, session; intranasal sessions give one row per device (5 min apart by default), as the
    engine doses them.

    Uses the file's per-patient dose datasets (`dose_time_h`, `dose_amount_mg`, `dose_taken`,
    dims [sweep..., ] arm, patient, dose) when present. Older files have none: the doses are then
    rebuilt from the regimen in `config_json` and each patient's weight (mg/kg doses), which is
    exact unless `adherence` < 1 (missed sessions are not in the file: a warning says so) and is
    checked against the number of doses on the file's `dose` axis (`cmax_*`)."""
    import warnings
    point = point or {}
    sub = ds.sel(point) if point else ds
    regimens = _arm_regimens(ds)
    arms = arms or [str(a) for a in sub["arm"].values]
    patients = sub["patient"].values
    weights = sub["weight_kg"].values.astype(float)
    frames = []
    for arm in arms:
        regimen = regimens[arm]
        route = regimen["route"]
        device_interval = _quantity(regimen.get("device_interval", "5 min"), "h")[0]
        device_dose = _quantity(regimen.get("device_dose", "28 mg"), "mg")[0]
        if "dose_time_h" in sub:
            times = sub["dose_time_h"].sel(arm=arm).transpose("patient", "dose").values.astype(float)
            amounts = sub["dose_amount_mg"].sel(arm=arm).transpose("patient", "dose").values.astype(float)
            taken = (sub["dose_taken"].sel(arm=arm).transpose("patient", "dose").values == 1
                     if "dose_taken" in sub else np.ones(times.shape, bool))
            p_idx, d_idx = np.nonzero(taken & ~np.isnan(times))
            rows = pd.DataFrame({"patient": patients[p_idx], "time_h": times[p_idx, d_idx],
                                 "amount_mg": amounts[p_idx, d_idx], "session": d_idx})
            if "dose_duration_h" in sub:  # each dose's own (event data sets mix boluses and infusions)
                durations = sub["dose_duration_h"].sel(arm=arm).transpose("patient", "dose").values.astype(float)
                rows["recorded_duration_h"] = durations[p_idx, d_idx]
            if route == "intranasal":  # one row per device, whether the file stores sessions or devices
                n_dev = np.maximum(1, np.rint(rows["amount_mg"] / device_dose)).astype(int)
                rows = rows.loc[rows.index.repeat(n_dev)].copy()
                device = rows.groupby(level=0).cumcount().to_numpy()
                rows["amount_mg"] = rows["amount_mg"] / np.repeat(n_dev.to_numpy(), n_dev.to_numpy())
                rows["time_h"] = rows["time_h"] + device * device_interval
                rows = rows.reset_index(drop=True)
        else:
            if sweep_dims(ds):
                raise SystemExit("this sweep file has no dose_time_h dataset; its per-point regimens cannot be "
                                 "rebuilt from config_json (the base config)")
            if float(regimen.get("adherence", 1)) < 1:
                warnings.warn(f"arm {arm}: adherence < 1 and the file has no dose_taken dataset; exporting the "
                              "nominal schedule (missed sessions are unknown)")
            sessions = nominal_sessions(regimen)
            _check_against_dose_axis(sub, arm, len(sessions))
            per_kg = _quantity(regimen["dose"], "mg")[1]
            records = []
            for s, (t, dose, devices) in enumerate(sessions):
                amount = dose * weights if per_kg else np.full(weights.shape, dose)
                if route == "intranasal":
                    for d in range(devices):
                        records.append(pd.DataFrame({"patient": patients, "time_h": t + d * device_interval,
                                                     "amount_mg": amount / devices, "session": s}))
                else:
                    records.append(pd.DataFrame({"patient": patients, "time_h": t, "amount_mg": amount, "session": s}))
            rows = pd.concat(records, ignore_index=True) if records else pd.DataFrame(
                columns=["patient", "time_h", "amount_mg", "session"])
        rows["duration_h"] = 0.0
        if "recorded_duration_h" in rows:
            rows["duration_h"] = rows.pop("recorded_duration_h").to_numpy()
        elif route == "iv_infusion":
            if "infusion_duration" in regimen:
                rows["duration_h"] = _quantity(regimen["infusion_duration"], "h")[0]
            else:
                rows["duration_h"] = rows["amount_mg"] / _quantity(regimen["infusion_rate"], "mg/h")[0]
        rows["arm"] = arm
        rows["route"] = route
        frames.append(rows)
    out = pd.concat(frames, ignore_index=True)
    out = out[out["amount_mg"] > 0]  # placebo sessions deliver nothing
    return out[["arm", "patient", "time_h", "amount_mg", "duration_h", "route", "session"]].sort_values(
        ["arm", "patient", "time_h"], kind="stable").reset_index(drop=True)


def _check_against_dose_axis(sub, arm, n_sessions):
    """The rebuilt schedule must have as many sessions as the file has NCA doses for the arm."""
    for name in sub.data_vars:
        if name.startswith("cmax_"):
            cmax = sub[name].sel(arm=arm).transpose("patient", "dose").values
            ok = sub["status"].sel(arm=arm).values == 0
            if not ok.any() or np.all(np.isnan(cmax[ok])):
                continue
            in_file = int((~np.isnan(cmax[ok][0])).sum())
            if in_file != n_sessions:
                raise SystemExit(f"arm {arm}: the regimen in config_json gives {n_sessions} sessions but the file's "
                                 f"dose axis has {in_file}; cannot rebuild the doses")
            return


def session_starts(ds, arm, point=None):
    """Session start times (h) of an arm's nominal schedule, for time after dose."""
    return np.array([t for t, _, _ in nominal_sessions(_arm_regimens(ds)[arm])])


def time_after_dose(times_h, starts_h):
    """Time since the latest session start before each time. A sample at a dose time is a pre-dose
    sample (NONMEM's order: the observation row before the dose row), so it counts from the
    previous session; times up to the first dose keep their own value."""
    times_h = np.asarray(times_h, float)
    starts_h = np.sort(np.asarray(starts_h, float))
    if starts_h.size == 0:
        return times_h.copy()
    idx = np.searchsorted(starts_h, times_h - 1e-9, side="right") - 1
    return np.where(idx >= 0, times_h - starts_h[np.clip(idx, 0, None)], times_h)


# ---------------------------------------------------------------------------------------------
# Visual predictive check
# ---------------------------------------------------------------------------------------------

def read_observed(path):
    """Observed concentrations, NONMEM-style CSV: ID, TIME (h after the first dose), DV (ng/mL);
    optional ARM (arm name as in the results file), EVID/MDV (only EVID 0, MDV 0 rows are
    observations; EVID 1 rows give the dose times), TAD (h). `.` and empty fields are missing.

    Without a TAD column, time after dose is computed from the EVID 1 rows; dose rows less than
    1 h after the previous one are one session (intranasal devices), timed from its first row, as
    the simulated side times sessions."""
    frame = pd.read_csv(path, na_values=["."], comment="#")
    missing = [c for c in ("ID", "TIME", "DV") if c not in frame]
    if missing:
        raise SystemExit(f"{path}: missing column(s) {', '.join(missing)} (need ID, TIME, DV)")
    is_obs = pd.Series(True, index=frame.index)
    if "EVID" in frame:
        is_obs &= frame["EVID"].fillna(0) == 0
    if "MDV" in frame:
        is_obs &= frame["MDV"].fillna(0) == 0
    obs = frame[is_obs & frame["DV"].notna()].copy()
    if "TAD" not in obs and "EVID" in frame and (frame["EVID"] == 1).any():
        doses = frame[frame["EVID"] == 1]
        obs["TAD"] = np.nan
        for pid, rows in obs.groupby("ID"):
            obs.loc[rows.index, "TAD"] = time_after_dose(rows["TIME"], session_starts_of(doses.loc[doses["ID"] == pid, "TIME"]))
    return obs.reset_index(drop=True)


def session_starts_of(dose_times_h, gap_h=1.0):
    """First dose time of each session: doses less than gap_h after the previous one join it."""
    t = np.sort(np.asarray(dose_times_h, float))
    if t.size == 0:
        return t
    return t[np.concatenate([[True], np.diff(t) >= gap_h])]


def vpc_bins(x, n_bins=None):
    """Bin edges. By default, when the observed x take at most 12 distinct values (nominal
    sampling times), one bin per value; otherwise, or when n_bins is given, n_bins (default 8)
    bins at quantiles of x, so that each holds about as many observations."""
    x = np.asarray(x, float)
    distinct = np.unique(np.round(x, 6))
    if n_bins is None and distinct.size <= 12:
        mids = (distinct[1:] + distinct[:-1]) / 2
        return np.concatenate([[distinct[0] - 1e-6], mids, [distinct[-1] + 1e-6]])
    edges = np.unique(np.quantile(x, np.linspace(0, 1, (n_bins or 8) + 1)))
    edges[-1] += 1e-9
    return edges


def vpc_source(ds, moiety):
    """(variable, time axis) the VPC samples: dv_<moiety> on sample_time when stored, so the
    simulated percentiles include residual error as observed data do; else conc_<moiety> on time."""
    if f"dv_{moiety}" in ds and "sample_time" in ds[f"dv_{moiety}"].dims:
        return f"dv_{moiety}", "sample_time"
    return MOIETY_PREFIX + moiety, "time"


def vpc_statistics(ds, observed, arm, moiety, n_bins=None, replicates=200, by="tad", seed=1, point=None):
    """Observed 5/50/95th percentiles per bin and the simulated ones with 95% CIs.

    Each replicate draws as many simulated patients as there are observed IDs (without
    replacement) and samples each at an observed ID's own times (nearest output time), so the
    simulated data have the observed design; the CI of a percentile is its 2.5-97.5th percentile
    range over replicates. Returns a dict of arrays: x (median observed x per bin), edges,
    obs (3 x bins), sim_mid/sim_lo/sim_hi (3 x bins), n_obs per bin."""
    point = point or {}
    obs = observed if "ARM" not in observed else observed[observed["ARM"] == arm]
    if obs.empty:
        raise SystemExit(f"no observed rows for arm {arm}")
    starts = session_starts(ds, arm)
    obs_x = (obs["TAD"].to_numpy(float) if ("TAD" in obs and by == "tad") else
             time_after_dose(obs["TIME"], starts) if by == "tad" else obs["TIME"].to_numpy(float))
    edges = vpc_bins(obs_x, n_bins)
    bins = np.clip(np.searchsorted(edges, obs_x, side="right") - 1, 0, len(edges) - 2)
    n_b = len(edges) - 1
    with _quiet_warnings():
        obs_pct = np.array([[np.nanpercentile(obs["DV"].to_numpy(float)[bins == b], q) if (bins == b).any() else np.nan
                             for b in range(n_b)] for q in BAND_PERCENTILES])
    x_mid = np.array([np.median(obs_x[bins == b]) if (bins == b).any() else np.nan for b in range(n_b)])

    # Simulated observations: DV (with the model's residual error) at the sampling times when the
    # file has them (outputs.sampling_times), else the noise-free concentrations on the time axis.
    source, axis = vpc_source(ds, moiety)
    conc = ds[source].sel(point).sel(arm=arm)
    ok = ok_mask(ds).sel(point).sel(arm=arm).values
    values = conc.transpose("patient", axis).values[ok].astype(float)
    grid = ds[axis].values.astype(float)
    ids = obs["ID"].to_numpy()
    unique_ids, id_index = np.unique(ids, return_inverse=True)
    if values.shape[0] < unique_ids.size:
        raise SystemExit(f"arm {arm}: {values.shape[0]} simulated patients, fewer than the {unique_ids.size} observed IDs")
    cols = np.clip(np.searchsorted(grid, obs["TIME"].to_numpy(float)), 0, grid.size - 1)
    left = np.clip(cols - 1, 0, grid.size - 1)
    nearer_left = np.abs(grid[left] - obs["TIME"].to_numpy(float)) < np.abs(grid[cols] - obs["TIME"].to_numpy(float))
    cols = np.where(nearer_left, left, cols)
    rng = np.random.default_rng(seed)
    sim = np.full((replicates, 3, n_b), np.nan)
    for r in range(replicates):
        who = rng.choice(values.shape[0], unique_ids.size, replace=False)
        sample = values[who[id_index], cols]
        for b in range(n_b):
            in_bin = sample[bins == b]
            if in_bin.size:
                sim[r, :, b] = np.percentile(in_bin, BAND_PERCENTILES)
    return dict(x=x_mid, edges=edges, obs=obs_pct, n_obs=np.bincount(bins, minlength=n_b),
                sim_mid=np.median(sim, axis=0), sim_lo=np.percentile(sim, 2.5, axis=0),
                sim_hi=np.percentile(sim, 97.5, axis=0), obs_x=obs_x, obs_dv=obs["DV"].to_numpy(float))


def figure_vpc(ds, observed, moiety, opts, bins=None, replicates=200, by="tad"):
    """One panel per arm: observed points, observed 5/50/95th percentiles (lines), simulated
    percentiles' 95% CIs (shaded: median band darker) and medians (dashed)."""
    plt = _pyplot()
    if "ARM" in observed:
        arms = [a for a in selected_arms(ds, opts.arms) if a in set(observed["ARM"])]
    else:
        arms = selected_arms(ds, opts.arms)
        if len(arms) != 1:
            raise SystemExit("the observed file has no ARM column: pick one simulated arm with --arms")
    if not arms:
        raise SystemExit("no observed arm matches the file's arms")
    colors = arm_colors(ds)
    fig, axes = _panel_grid(plt, len(arms), width=6, height=4.5, sharey=False)
    names = {5: "5th", 50: "median", 95: "95th"}
    for ax, arm in zip(axes, arms):
        stats = vpc_statistics(ds, observed, arm, moiety, bins, replicates, by, point=opts.point)
        c = colors[arm]
        ax.plot(stats["obs_x"], stats["obs_dv"], "o", color="grey", markersize=2.5, alpha=0.5, label="observed data")
        for i, q in enumerate(BAND_PERCENTILES):
            ax.fill_between(stats["x"], stats["sim_lo"][i], stats["sim_hi"][i], color=c,
                            alpha=0.35 if q == 50 else 0.18, linewidth=0,
                            label=f"simulated {names[q]}: 95% CI")
            ax.plot(stats["x"], stats["sim_mid"][i], "--", color=c, linewidth=1, label=f"simulated {names[q]}")
            ax.plot(stats["x"], stats["obs"][i], "-", color="black", linewidth=1.8 if q == 50 else 1.0,
                    label=f"observed {names[q]}")
        for e in stats["edges"][1:-1]:
            ax.axvline(e, color="grey", linewidth=0.4, alpha=0.5)
        if opts.log_y:
            ax.set_yscale("log", nonpositive="mask")
        if opts.time_window:
            ax.set_xlim(*opts.time_window)
        ax.set_title(arm, color=c, fontweight="bold")
        ax.set_xlabel("Time after dose (h)" if by == "tad" else "Time after first dose (h)")
        source = vpc_source(ds, moiety)[0]
        ax.set_ylabel(f"{moiety} ({ds[source].attrs.get('units', 'ng/mL')})" +
                      (": simulated DV with residual error" if source.startswith("dv_") else ": simulated without residual error"))
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    order = ["observed data", "observed median", "observed 5th", "simulated median", "simulated median: 95% CI",
             "simulated 5th: 95% CI"]
    keep = [labels.index(l) for l in order if l in labels]
    axes[0].legend([handles[i] for i in keep], [labels[i].replace("observed 5th", "observed 5th and 95th")
                                                .replace("simulated 5th: 95% CI", "simulated 5th, 95th: 95% CI")
                                                for i in keep], fontsize="x-small", loc="upper right")
    fig.suptitle(_title(f"VPC of {moiety}: observed percentiles (black) over simulated 5th/50th/95th percentiles "
                        f"with 95% CIs from {replicates} simulated studies of the observed design", {}))
    fig.tight_layout()
    return fig


def plot_vpc(ds, observed, outdir, opts=None, moiety=None, bins=None, replicates=200, by="tad"):
    """The `vpc` command: writes vpc_<moiety>.<fmt> and returns its path in a list."""
    opts = opts or PlotOptions()
    os.makedirs(outdir, exist_ok=True)
    if not opts.point:
        opts.point = sweep_points(ds)[0]
    full = [m for m in moieties(ds) if MOIETY_PREFIX + m in ds or f"dv_{m}" in ds]
    if not full:
        raise SystemExit("a VPC needs every patient's concentrations (outputs.concentration: full) or DV at "
                         "sampling times (outputs.sampling_times with a residual-error model)")
    if moiety is None:
        if "ARM" in observed:
            arms = [a for a in selected_arms(ds, opts.arms) if a in set(observed["ARM"])]
        else:
            arms = selected_arms(ds, opts.arms)
        with_data = [m for m in full if all(bool(ds[vpc_source(ds, m)[0]].sel(arm=a).notnull().any()) for a in arms)]
        if len(with_data) != 1:
            raise SystemExit(f"--moiety: pick one of {', '.join(with_data or full)}")
        moiety = with_data[0]
    elif moiety not in full:
        raise SystemExit(f"--moiety {moiety}: the file has per-patient data for {', '.join(full)}")
    fig = figure_vpc(ds, observed, moiety, opts, bins, replicates, by)
    return [save_figure(fig, outdir, f"vpc_{moiety}", opts.fmt)]


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def parse_point(ds, items):
    """['dose_mg_per_kg=0.5', ...] -> {dim: value in the coordinate's own type}."""
    point = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in sweep_dims(ds):
            raise SystemExit(f"--at {item!r}: expected DIM=VALUE with DIM one of {sweep_dims(ds)}")
        coord = ds[key].values
        point[key] = float(value) if np.issubdtype(coord.dtype, np.number) else value
        if point[key] not in list(coord):
            raise SystemExit(f"--at {item!r}: {key} has values {[_fmt_value(v) for v in coord]}")
    if point and set(point) != set(sweep_dims(ds)):
        first = sweep_points(ds)[0]
        point = {d: point.get(d, first[d]) for d in sweep_dims(ds)}
    return point or None


# ---------------------------------------------------------------------------------------------
# `ketasim optimize` results (docs/optimize.md)
# ---------------------------------------------------------------------------------------------

def optimize_frame(ds):
    """One row per candidate: decision variables, objective with CI, remission, sessions, cost, flags."""
    import pandas as pd
    cols = {"candidate": [str(c) for c in ds["candidate"].values]}
    for name, var in ds.data_vars.items():
        if var.dims == ("candidate",):
            values = var.values
            cols[name] = [v.decode() if isinstance(v, bytes) else v for v in values] if values.dtype.kind in "OSU" \
                else values
    return pd.DataFrame(cols)


def decision_variables(ds):
    return [n for n, v in ds.data_vars.items() if v.dims == ("candidate",) and
            str(v.attrs.get("long_name", "")).startswith("decision variable")]


def figure_pareto(ds, opts):
    """Remission at the objective visit vs burden (mean cost per patient, or sessions taken),
    every candidate with its 95% CI when the objective is the remission rate; the Pareto front
    joined; infeasible candidates hollow; the optimum ringed."""
    plt = _pyplot()
    f = optimize_frame(ds)
    costs = np.isfinite(f["cost_per_patient"]).any()
    x_name = "cost_per_patient" if costs else "sessions_taken"
    x_label = f"Mean cost per patient ({ds.attrs.get('currency', '')})" if costs else "Mean sessions taken per patient"
    fig, ax = plt.subplots(figsize=(8.5, 5.5), dpi=120)
    scenario = f["scenario"] if "scenario" in f else pd_series_of(f, "")
    for k, name in enumerate(dict.fromkeys(scenario)):
        rows = f[scenario == name]
        color = ARM_PALETTE[k % len(ARM_PALETTE)]
        feasible = rows["feasible"] == 1
        y, x = 100 * rows["remission_rate"], rows[x_name]
        if ds.attrs.get("objective") == "remission":
            ax.errorbar(x[feasible], y[feasible], yerr=[y[feasible] - 100 * rows["objective_lower"][feasible],
                                                        100 * rows["objective_upper"][feasible] - y[feasible]],
                        fmt="o", color=color, capsize=2, label=name or "candidates")
        else:
            ax.plot(x[feasible], y[feasible], "o", color=color, label=name or "candidates")
        ax.plot(x[~feasible], y[~feasible], "o", mfc="none", color=color)
    front = f[f["pareto"] == 1].sort_values(x_name)
    ax.plot(front[x_name], 100 * front["remission_rate"], "-", color="black", linewidth=1, label="Pareto front")
    best = f[f["is_best"] == 1]
    ax.plot(best[x_name], 100 * best["remission_rate"], "o", ms=14, mfc="none", color="black", label="optimum")
    ax.set_xlabel(x_label)
    ax.set_ylabel(f"Remission at day {float(ds.attrs.get('objective_visit_d', np.nan)):g} (%)")
    ax.set_title(f"{ds.attrs.get('study_name', '')}: candidates of arm '{ds.attrs.get('optimized_arm', '')}' "
                 "(hollow: fails the constraints)")
    ax.legend(fontsize=8)
    path = os.path.join(opts.outdir, f"optimize_pareto.{opts.fmt}")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def pd_series_of(frame, value):
    import pandas as pd
    return pd.Series([value] * len(frame), index=frame.index)


def figure_objective_heatmap(ds, opts):
    """The objective over the two numeric decision variables with the largest range of objective
    means between their levels (one panel per scenario), each cell with its 95% CI."""
    plt = _pyplot()
    f = optimize_frame(ds)
    numeric = [n for n in decision_variables(ds) if np.issubdtype(ds[n].dtype, np.number)]
    if len(numeric) < 2:
        return None
    influence = {n: np.ptp(f.groupby(n)["objective"].mean().to_numpy()) for n in numeric}
    xv, yv = sorted(numeric, key=lambda n: -influence[n])[:2]
    scenario = f["scenario"] if "scenario" in f else pd_series_of(f, "")
    names = list(dict.fromkeys(scenario))
    fig, axes = _panel_grid(plt, len(names), sharey=True)
    rate = ds.attrs.get("objective") in ("remission", "response")
    scale = 100.0 if rate else 1.0
    finite = f["objective"][np.isfinite(f["objective"])]
    vmin, vmax = scale * finite.min(), scale * finite.max()
    for ax, name in zip(axes, names):
        rows = f[scenario == name]
        xs, ys = sorted(rows[xv].unique()), sorted(rows[yv].unique())
        grid = np.full((len(ys), len(xs)), np.nan)
        for _, r in rows.iterrows():
            grid[ys.index(r[yv]), xs.index(r[xv])] = scale * r["objective"]
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
        for _, r in rows.iterrows():
            text = f"{scale * r['objective']:.{1 if rate else 0}f}\n[{scale * r['objective_lower']:.{1 if rate else 0}f}, " \
                   f"{scale * r['objective_upper']:.{1 if rate else 0}f}]"
            ax.text(xs.index(r[xv]), ys.index(r[yv]), text, ha="center", va="center", fontsize=6,
                    color="white" if r["feasible"] == 1 else "red")
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        ax.set_xlabel(f"{xv} ({ds[xv].attrs.get('units', '')})")
        ax.set_ylabel(f"{yv} ({ds[yv].attrs.get('units', '')})")
        ax.set_title(name or "candidates")
    fig.colorbar(im, ax=axes, label=f"{ds.attrs.get('objective', '')}{' (%)' if rate else ''}")
    fig.suptitle("Objective with 95% paired-bootstrap CI (red: fails the constraints)")
    path = os.path.join(opts.outdir, f"optimize_objective.{opts.fmt}")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_optimize(ds, outdir, opts):
    os.makedirs(outdir, exist_ok=True)
    opts.outdir = outdir
    return [p for p in (figure_pareto(ds, opts), figure_objective_heatmap(ds, opts)) if p]


def _add_figure_options(p):
    p.add_argument("-o", "--outdir", default="figures")
    p.add_argument("--arms", nargs="+", metavar="ARM", help="arms to draw (default: all); colours stay fixed per arm")
    p.add_argument("--log-y", action="store_true", help="logarithmic concentration axis")
    p.add_argument("--time-window", nargs=2, type=float, metavar=("T0_H", "T1_H"),
                   help="concentration figures: only times T0..T1 hours after the first dose")
    p.add_argument("--format", choices=FORMATS, default="png", help="figure file format (default png)")
    p.add_argument("--at", nargs="*", metavar="DIM=VALUE",
                   help="sweep point for the per-patient figures (default: the first point)")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Tables and figures from a ketasim results file.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_plot = sub.add_parser("plot", help="write figures and print their paths")
    p_plot.add_argument("results")
    _add_figure_options(p_plot)
    p_plot.add_argument("--reference", metavar="ARM", help="reference arm of the forest plot (default: the first arm)")
    p_vpc = sub.add_parser("vpc", help="visual predictive check against observed concentrations")
    p_vpc.add_argument("results")
    p_vpc.add_argument("--observed", required=True, help="CSV: ID, TIME (h), DV; optional ARM, EVID/MDV, TAD")
    _add_figure_options(p_vpc)
    p_vpc.add_argument("--moiety", help="simulated moiety to compare (default: the only one with data, else required)")
    p_vpc.add_argument("--bins", type=int, help="number of bins at quantiles of the observed times (default: one bin "
                       "per nominal time when there are at most 12, else 8)")
    p_vpc.add_argument("--replicates", type=int, default=200, help="simulated studies of the observed size for the CIs")
    p_vpc.add_argument("--by", choices=("tad", "time"), default="tad", help="bin by time after dose (default) or time")
    p_table = sub.add_parser("table", help="print per-arm response/remission with Wilson 95%% CIs")
    p_table.add_argument("results")
    p_opt = sub.add_parser("optimize", help="figures of a `ketasim optimize` file: Pareto front, objective heatmap")
    p_opt.add_argument("results")
    p_opt.add_argument("-o", "--outdir", default="figures")
    p_opt.add_argument("--format", choices=FORMATS, default="png", help="figure file format (default png)")
    args = parser.parse_args(argv)

    if args.command == "optimize":
        with load(args.results) as ds:
            for path in plot_optimize(ds, args.outdir, PlotOptions(fmt=args.format)):
                print(path)
        return 0

    with load(args.results) as ds:
        if args.command == "table":
            sys.stdout.write(format_table(endpoint_table(ds), sweep_dims(ds)))
            return 0
        opts = PlotOptions(arms=args.arms, log_y=args.log_y, time_window=args.time_window,
                           point=parse_point(ds, args.at), fmt=args.format,
                           reference=getattr(args, "reference", None))
        if args.command == "plot":
            paths = plot_all(ds, args.outdir, opts)
            if not moieties(ds) or all(MOIETY_PREFIX + m not in ds for m in moieties(ds)):
                print("note: no per-patient concentrations in this file (outputs.concentration is summary or none):"
                      " concentration figures show the mean only; percentile bands need outputs.concentration: full",
                      file=sys.stderr)
        else:
            observed = read_observed(args.observed)
            paths = plot_vpc(ds, observed, args.outdir, opts, moiety=args.moiety, bins=args.bins,
                             replicates=args.replicates, by=args.by)
        for path in paths:
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
