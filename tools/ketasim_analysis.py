#!/usr/bin/python3
"""Analyse a ketasim results file (docs/results-format.md): tables, data frames and figures.

As a module (run with Debian's /usr/bin/python3, which has xarray, h5netcdf and matplotlib):

    import ketasim_analysis as ka
    ds = ka.load("results.h5")
    patients = ka.patients_frame(ds)     # one row per [sweep point x] arm x patient
    visits = ka.visits_frame(ds)         # one row per [sweep point x] arm x patient x visit
    table = ka.endpoint_table(ds)        # per-arm response / remission with Wilson 95% CIs

As a command:

    /usr/bin/python3 tools/ketasim_analysis.py plot results.h5 -o figures/ [--at dose_mg_per_kg=0.5]
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
    return (p, max(0.0, centre - half), min(1.0, centre + half))


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
# ---------------------------------------------------------------------------------------------

def _pyplot():
    """matplotlib with the non-interactive Agg backend (works without a display)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _title(text, point):
    return text + (f"\n({point_label(point)})" if point else "")


def _arm_colors(ds):
    plt = _pyplot()
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {str(a): cycle[i % len(cycle)] for i, a in enumerate(ds["arm"].values)}


def _concentration_bands(ds, full, arm, point):
    """(centre, low, high, kind) across ok patients for one arm, or None when the arm has no data
    for the moiety (its model lacks it) or is identically zero (e.g. a placebo arm)."""
    if full in ds:
        conc = ds[full].sel(point).sel(arm=arm).where(ok_mask(ds).sel(point).sel(arm=arm))
        values = conc.transpose("patient", "time").values.astype(float)
        if np.all(np.isnan(values)) or np.nanmax(values) <= 0:
            return None
        with np.errstate(invalid="ignore"), _quiet_warnings():
            p5, p50, p95 = np.nanpercentile(values, [5, 50, 95], axis=0)
        return p50, p5, p95, ("median", "5th-95th percentile")
    mean = ds[full + "_mean"].sel(point).sel(arm=arm).values.astype(float)
    sd = ds[full + "_sd"].sel(point).sel(arm=arm).values.astype(float)
    if np.all(np.isnan(mean)) or np.nanmax(mean) <= 0:
        return None
    return mean, np.clip(mean - sd, 0, None), mean + sd, ("mean", "mean ± 1 SD")


def plot_concentrations(ds, outdir, point=None):
    """One figure per moiety: across-patient 5/50/95th percentiles per arm (VPC style) when the
    full series is stored, else mean +/- SD from the summary variables. Returns the paths.

    For multi-day studies a second panel zooms on the first 24 h, where single-dose profiles
    would otherwise be thin spikes.
    """
    plt = _pyplot()
    point = point or {}
    t_h = ds["time"].values.astype(float)
    multi_day = t_h.size > 0 and t_h.max() > 72
    colors = _arm_colors(ds)
    paths = []
    for moiety in moieties(ds):
        full = MOIETY_PREFIX + moiety
        bands = {str(a): _concentration_bands(ds, full, str(a), point) for a in ds["arm"].values}
        bands = {a: b for a, b in bands.items() if b is not None}
        if not bands:
            continue
        kind = next(iter(bands.values()))[3]
        if multi_day:
            fig, (ax_zoom, ax) = plt.subplots(1, 2, figsize=(12, 5.5), dpi=120, width_ratios=[1, 2])
            panels = [(ax_zoom, t_h <= 24, 1.0, "Time after first dose (h)", "First 24 h"),
                      (ax, slice(None), 24.0, "Time after first dose (d)", "Whole study")]
        else:
            fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
            panels = [(ax, slice(None), 1.0, "Time after first dose (h)", None)]
        units = ds[full if full in ds else full + "_mean"].attrs.get("units", "ng/mL")
        for axis, mask, scale, xlabel, subtitle in panels:
            for arm, (centre, low, high, _) in bands.items():
                axis.fill_between(t_h[mask] / scale, low[mask], high[mask], color=colors[arm], alpha=0.2,
                                  linewidth=0, label=f"{arm}: {kind[1]}")
                axis.plot(t_h[mask] / scale, centre[mask], color=colors[arm], linewidth=1.5,
                          label=f"{arm}: {kind[0]}")
            axis.set_xlabel(xlabel)
            axis.set_ylabel(f"{moiety} concentration ({units})")
            axis.set_ylim(bottom=0)
            axis.grid(alpha=0.3)
            if subtitle:
                axis.set_title(subtitle, fontsize="medium")
        ax.legend(loc="upper right", fontsize="small")
        fig.suptitle(_title(f"Plasma {moiety} concentration across patients: {kind[0]} with {kind[1]} band", point))
        paths.append(_save(fig, outdir, f"concentration_{moiety}.png"))
    return paths


def plot_madrs_course(ds, outdir, point=None):
    """MADRS over visits per arm: median line, 5th-95th percentile band, and the mean (dashed)."""
    plt = _pyplot()
    point = point or {}
    colors = _arm_colors(ds)
    days = ds["visit"].values.astype(float)
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
    for arm in ds["arm"].values:
        arm = str(arm)
        c = colors[arm]
        m = ds["madrs"].sel(point).sel(arm=arm).where(ok_mask(ds).sel(point).sel(arm=arm))
        values = m.transpose("patient", "visit").values.astype(float)
        with np.errstate(invalid="ignore"), _quiet_warnings():
            p5, p50, p95 = np.nanpercentile(values, [5, 50, 95], axis=0)
            mean = np.nanmean(values, axis=0)
        ax.fill_between(days, p5, p95, color=c, alpha=0.15, linewidth=0, label=f"{arm}: 5th-95th percentile")
        ax.plot(days, p50, "-o", color=c, markersize=4, label=f"{arm}: median")
        ax.plot(days, mean, "--", color=c, linewidth=1, label=f"{arm}: mean")
    threshold = ds.attrs.get("remission_threshold")
    if threshold is not None:
        ax.axhline(float(threshold), color="grey", linestyle=":", linewidth=1,
                   label=f"remission threshold (MADRS ≤ {float(threshold):g})")
    primary = ds.attrs.get("primary_visit_d")
    if primary is not None:
        ax.axvline(float(primary), color="black", linestyle=":", linewidth=1,
                   label=f"primary visit (day {float(primary):g})")
    ax.set_title(_title("MADRS total score over the study by arm", point))
    ax.set_xlabel("Visit (days after first dose)")
    ax.set_ylabel("MADRS total score (points, 0-60)")
    ax.set_ylim(0, 60)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small", ncol=2)
    return [_save(fig, outdir, "madrs_course.png")]


def plot_endpoints(ds, outdir, point=None):
    """Response and remission per arm as bars with Wilson 95% CIs, side by side."""
    plt = _pyplot()
    point = point or {}
    table = endpoint_table(ds)
    for k, v in point.items():
        table = table[table[k] == v]
    arms = list(table["arm"])
    x = np.arange(len(arms))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(7, 1.8 * len(arms) + 3), 5.5), dpi=120)
    for offset, name, color in ((-width / 2, "response", "#4c72b0"), (width / 2, "remission", "#55a868")):
        pct = table[f"{name}_pct"].to_numpy()
        err = np.vstack([pct - table[f"{name}_lo"].to_numpy(), table[f"{name}_hi"].to_numpy() - pct])
        bars = ax.bar(x + offset, pct, width, color=color, yerr=err, capsize=4,
                      label=f"{name} (bar: rate, whisker: Wilson 95% CI)")
        # Value labels just above the upper whisker, where even a 2% bar's label is readable.
        for bar, p, hi in zip(bars, pct, table[f"{name}_hi"].to_numpy()):
            ax.annotate(f"{p:.0f}%", (bar.get_x() + bar.get_width() / 2, hi + 1), ha="center", va="bottom",
                        fontsize="small")
    labels = [f"{a}\n(N={n})" for a, n in zip(arms, table["n"])]
    ax.set_xticks(x, labels)
    threshold = ds.attrs.get("remission_threshold")
    primary = ds.attrs.get("primary_visit_d")
    detail = []
    if primary is not None:
        detail.append(f"day {float(primary):g}")
    if threshold is not None:
        detail.append(f"remission: MADRS ≤ {float(threshold):g}")
    ax.set_title(_title("Response and remission at the primary visit" +
                        (f" ({'; '.join(detail)})" if detail else ""), point))
    ax.set_xlabel("Arm")
    ax.set_ylabel("Patients (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return [_save(fig, outdir, "endpoints.png")]


def plot_sweep(ds, outdir):
    """Remission against the swept value(s): a line per arm for one swept key, a heatmap per arm
    for two (further swept keys are held at their first value, as the title says)."""
    plt = _pyplot()
    dims = sweep_dims(ds)
    if not dims:
        return []
    table = endpoint_table(ds)
    held = {d: ds[d].values[0] for d in dims[2:]}
    for k, v in held.items():
        table = table[table[k] == v]
    held_note = f"\n(held at {point_label(held)})" if held else ""
    units = {d: ds[d].attrs.get("units", "1") for d in dims}

    def axis_label(d):
        return f"{d} ({units[d]})" if units[d] not in ("", "1") else d

    if len(dims) == 1:
        d = dims[0]
        numeric = np.issubdtype(ds[d].dtype, np.number)
        fig, ax = plt.subplots(figsize=(9, 5.5), dpi=120)
        colors = _arm_colors(ds)
        for arm, block in table.groupby("arm", sort=False):
            xs = block[d].to_numpy() if numeric else np.arange(len(block))
            pct = block["remission_pct"].to_numpy()
            err = np.vstack([pct - block["remission_lo"].to_numpy(), block["remission_hi"].to_numpy() - pct])
            ax.errorbar(xs, pct, yerr=err, fmt="-o", capsize=3, color=colors[arm], label=f"{arm} (Wilson 95% CI)")
        if not numeric:
            ax.set_xticks(np.arange(ds.sizes[d]), [str(v) for v in ds[d].values])
        ax.set_title(f"Remission at the primary visit vs {d}{held_note}")
        ax.set_xlabel(axis_label(d))
        ax.set_ylabel("Remission (% of patients)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        return [_save(fig, outdir, "sweep_remission.png")]

    # Two (or more) swept keys: one heatmap per arm on a shared colour scale.
    dy, dx = dims[0], dims[1]
    arms = [str(a) for a in ds["arm"].values]
    fig, axes = plt.subplots(1, len(arms), figsize=(4.2 * len(arms) + 1.5, 5), dpi=120, squeeze=False,
                             sharey=True, layout="constrained")
    image = None
    for ax, arm in zip(axes[0], arms):
        grid = (table[table["arm"] == arm].pivot(index=dy, columns=dx, values="remission_pct")
                .reindex(index=ds[dy].values, columns=ds[dx].values))
        image = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=100)
        for (i, j), v in np.ndenumerate(grid.to_numpy()):
            ax.text(j, i, f"{v:.0f}%", ha="center", va="center", fontsize="small",
                    color="white" if v < 60 else "black")
        ax.set_xticks(np.arange(grid.shape[1]), [_fmt_value(v) for v in grid.columns])
        ax.set_yticks(np.arange(grid.shape[0]), [_fmt_value(v) for v in grid.index])
        ax.set_xlabel(axis_label(dx))
        ax.set_title(arm)
    axes[0][0].set_ylabel(axis_label(dy))
    # The colour bar is this figure's legend: colour -> remission %.
    fig.colorbar(image, ax=axes[0].tolist(), label="Remission at the primary visit (% of patients)")
    fig.suptitle(f"Remission at the primary visit over the {dy} x {dx} grid, per arm{held_note}")
    return [_save(fig, outdir, "sweep_remission_heatmap.png", tight=False)]


def plot_all(ds, outdir, point=None):
    """Every figure that the file's content allows; returns the written paths.

    Per-patient figures need one sweep point: `point` ({dim: value}) or else the first one.
    """
    os.makedirs(outdir, exist_ok=True)
    if point is None:
        point = sweep_points(ds)[0]
    paths = []
    if moieties(ds):
        paths += plot_concentrations(ds, outdir, point)
    paths += plot_madrs_course(ds, outdir, point)
    paths += plot_endpoints(ds, outdir, point)
    paths += plot_sweep(ds, outdir)
    return paths


def _save(fig, outdir, name, tight=True):
    plt = _pyplot()
    path = os.path.join(outdir, name)
    if tight:
        fig.tight_layout()
    fig.savefig(path, bbox_inches="tight" if not tight else None)
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


def main(argv=None):
    parser = argparse.ArgumentParser(description="Tables and figures from a ketasim results file.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_plot = sub.add_parser("plot", help="write PNG figures and print their paths")
    p_plot.add_argument("results")
    p_plot.add_argument("-o", "--outdir", default="figures")
    p_plot.add_argument("--at", nargs="*", metavar="DIM=VALUE",
                        help="sweep point for the per-patient figures (default: the first point)")
    p_table = sub.add_parser("table", help="print per-arm response/remission with Wilson 95%% CIs")
    p_table.add_argument("results")
    args = parser.parse_args(argv)

    with load(args.results) as ds:
        if args.command == "plot":
            for path in plot_all(ds, args.outdir, parse_point(ds, args.at)):
                print(path)
        else:
            sys.stdout.write(format_table(endpoint_table(ds), sweep_dims(ds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
