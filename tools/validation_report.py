#!/usr/bin/python3
"""Validation report of a calibrated response model (docs/validation.md).

Runs every target of a calibration file (calibrations/*.yaml) through the ketasim binary with the
calibrated model, on virtual patients independent of those the fit used (another seed, more
patients), and writes a Markdown report: a target table (observed with its 95% CI, simulated with
its 95% CI, within tolerance?), a figure per study (simulated MADRS course with bands vs the
published points), and a one-at-a-time sensitivity table (+-20% per fitted parameter) of the
remission difference IV vs intranasal in configs/default.yaml.

    /usr/bin/python3 tools/validation_report.py            # regenerates docs/validation.md + docs/figures/

Options: --calibration FILE --model FILE --patients N --seed S --out FILE --figures DIR
--sensitivity-config FILE --sensitivity-patients N (0 = skip) --exe PATH. Needs numpy, h5py,
matplotlib, pyyaml (Debian python3-*).
"""
import argparse
import copy
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import yaml

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

Z95 = 1.959963984540054


def find_exe(given):
    for candidate in [given, os.environ.get("KETASIM_EXE"), "build/ketasim", "build-cal/ketasim"]:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    sys.exit("validation_report: no ketasim binary (pass --exe or set KETASIM_EXE)")


def rel(path, base):
    return os.path.normpath(os.path.join(os.path.dirname(base), path))


def quantity_days(text):
    """'28d', '72h', '1 wk' or a number of days -> days."""
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip()
    for unit, factor in (("min", 1 / 1440), ("wk", 7), ("w", 7), ("d", 1), ("h", 1 / 24)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * factor
    return float(s)


def wilson(k, n):
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + Z95**2 / n
    c = (p + Z95**2 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return (c - h, c + h)


def load_targets(cal_path):
    with open(cal_path) as f:
        cal = yaml.safe_load(f)
    targets = []
    for t in cal["targets"]:
        t = dict(t)
        t["study_path"] = rel(t["study"], cal_path)
        t["visit_d"] = quantity_days(t["visit"])
        sets = t.get("set") or {}
        t["set_list"] = [f"{k}={v}" for k, v in sets.items()]
        obs = float(t["observed"])
        if "se" in t:
            se = float(t["se"])
        elif t["endpoint"] == "mean_change":
            se = float(t["sd"]) / math.sqrt(float(t["n"]))
        else:
            se = math.sqrt(max(obs * (1 - obs), 1e-12) / float(t["n"]))
        t["se_value"] = se
        t["tolerance_value"] = float(t.get("tolerance", Z95 * se))
        targets.append(t)
    return cal, targets


def run_study(exe, study, sets, model, patients, seed, workdir, tag):
    out = os.path.join(workdir, f"{tag}.h5")
    cmd = [exe, "run", study, "--quiet", "-o", out, "--patients", str(patients), "--seed", str(seed),
           "--set", f"endpoints.model={os.path.abspath(model)}", "--set", "outputs.concentration=none"]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"validation_report: {' '.join(shlex.quote(c) for c in cmd)} failed:\n{r.stderr}")
    return read_results(out)


def read_results(path):
    with h5py.File(path, "r") as f:
        arms = [a.decode() if isinstance(a, bytes) else str(a) for a in f["arm"][...]]
        visits = np.asarray(f["visit"][...], dtype=float)
        madrs = np.asarray(f["madrs"][...], dtype=float)          # arm, patient, visit
        baseline = np.asarray(f["baseline_madrs"][...], dtype=float)  # arm, patient
        status = np.asarray(f["status"][...])
        remission = float(f.attrs["remission_threshold"])
        primary = float(f.attrs["primary_visit_d"])
        rem_primary = np.asarray(f["remission"][...])
        # The engine's own per-visit flags (EndpointRules, dropout imputation included): the rules
        # are defined once, in C++, and not re-derived here.
        response_by_visit = np.asarray(f["response_by_visit"][...])
        remission_by_visit = np.asarray(f["remission_by_visit"][...])
    return {"arms": arms, "visits": visits, "madrs": madrs, "baseline": baseline, "status": status,
            "remission_threshold": remission, "primary_visit_d": primary, "remission_primary": rem_primary,
            "response_by_visit": response_by_visit, "remission_by_visit": remission_by_visit}


def arm_visit_stats(res, arm):
    """Per visit: response/remission counts (from the file's flags), mean change and its SD, quartiles."""
    a = res["arms"].index(arm)
    ok = res["status"][a] == 0
    m = res["madrs"][a][ok]
    b = res["baseline"][a][ok][:, None]
    change = m - b
    n = int(ok.sum())
    resp = res["response_by_visit"][a][ok].sum(axis=0)
    remi = res["remission_by_visit"][a][ok].sum(axis=0)
    return {"n": n, "responders": resp, "remitters": remi, "change_mean": change.mean(axis=0),
            "change_sd": change.std(axis=0, ddof=1), "change_q": np.percentile(change, [10, 25, 50, 75, 90], axis=0)}


def simulated_value(stats, visits, t):
    v = int(np.argmin(np.abs(visits - t["visit_d"])))
    n = stats["n"]
    if t["endpoint"] == "mean_change":
        mean = float(stats["change_mean"][v])
        h = Z95 * float(stats["change_sd"][v]) / math.sqrt(n)
        return mean, (mean - h, mean + h)
    k = int(stats["responders"][v] if t["endpoint"] == "response" else stats["remitters"][v])
    return k / n, wilson(k, n)


def fmt(x, endpoint):
    if endpoint == "mean_change":
        return f"{x:.1f}"
    return f"{100 * x:.1f}%"


def study_figure(name, groups, targets, path):
    """Left: mean MADRS change (10-90 and 25-75 percentile bands); right: response/remission rates."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 3.6), dpi=72)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    arms_seen = []
    for key, res in groups.items():
        for arm in res["arms"]:
            if (key, arm) in arms_seen:
                continue
            if not any(t["group"] == key and t["arm"] == arm for t in targets):
                continue
            arms_seen.append((key, arm))
            c = colors[(len(arms_seen) - 1) % len(colors)]
            s = arm_visit_stats(res, arm)
            d = res["visits"]
            ax1.plot(d, s["change_mean"], color=c, label=arm)
            ax1.fill_between(d, s["change_q"][1], s["change_q"][3], color=c, alpha=0.2, lw=0)
            ax1.fill_between(d, s["change_q"][0], s["change_q"][4], color=c, alpha=0.08, lw=0)
            ax2.plot(d, 100 * s["responders"] / s["n"], color=c, label=f"{arm} response")
            ax2.plot(d, 100 * s["remitters"] / s["n"], color=c, ls="--",
                     label=f"{arm} remission (<= {res['remission_threshold']:g})")
            for t in targets:
                if t["group"] != key or t["arm"] != arm:
                    continue
                err = Z95 * t["se_value"]
                if t["endpoint"] == "mean_change":
                    ax1.errorbar([t["visit_d"]], [t["observed"]], yerr=[err], fmt="o", color=c, mec="k", capsize=3)
                else:
                    mk = "o" if t["endpoint"] == "response" else "s"
                    ax2.errorbar([t["visit_d"]], [100 * t["observed"]], yerr=[100 * err], fmt=mk, color=c, mec="k",
                                 capsize=3)
    ax1.set_xlabel("day")
    ax1.set_ylabel("MADRS change from baseline")
    ax1.set_title(f"{name}: mean, 25-75% and 10-90% of patients", fontsize=9)
    ax1.axhline(0, color="0.7", lw=0.5)
    ax1.legend(fontsize=7)
    ax2.set_xlabel("day")
    ax2.set_ylabel("% of patients")
    ax2.set_ylim(0, 100)
    ax2.set_title("response (solid, o) / remission (dashed, s); points: published +-95% CI", fontsize=9)
    ax2.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def perturbed_model(model, name, factor, path):
    y = copy.deepcopy(model)
    if name.startswith("placebo."):
        _, bg, field = name.split(".")
        node, key = y["placebo"][bg], field
    else:
        node, key = y["parameters"][name], "value"
    value = float(node[key]) * factor
    if name in ("emax_typical", "occupancy50") or name.endswith("max_typical"):
        value = min(value, 0.999)
    node[key] = value
    y["name"] = f"{y['name']}-{name}-x{factor:g}"
    y.pop("calibration", None)
    with open(path, "w") as f:
        yaml.safe_dump(y, f, sort_keys=False)
    return value


def sensitivity(exe, config, model_path, params, patients, seed, workdir):
    with open(model_path) as f:
        model = yaml.safe_load(f)
    with open(config) as f:
        cfg = yaml.safe_load(f)
    arm_names = [a["name"] for a in cfg["arms"]]
    iv = next(a for a in arm_names if "iv" in a)
    nasal = next(a for a in arm_names if a != iv)
    rows = []

    def remission_difference(path, tag):
        res = run_study(exe, config, ["outputs.time_step=1d"], path, patients, seed, workdir, tag)
        out = {}
        for arm in (iv, nasal):
            a = res["arms"].index(arm)
            ok = res["status"][a] == 0
            out[arm] = float(res["remission_primary"][a][ok].mean())
        return out[iv] - out[nasal], out, res["primary_visit_d"]

    base, base_rates, primary = remission_difference(model_path, "sens_base")
    for name in params:
        row = {"name": name}
        for factor in (0.8, 1.2):
            path = os.path.join(workdir, f"sens_{name}_{factor}.yaml")
            row[f"value_{factor}"] = perturbed_model(model, name, factor, path)
            row[factor], _, _ = remission_difference(path, f"sens_{name}_{factor}")
        rows.append(row)
    return {"iv": iv, "nasal": nasal, "base": base, "base_rates": base_rates, "rows": rows, "primary": primary}


def model_value(model, name):
    if name.startswith("placebo."):
        _, bg, field = name.split(".")
        return model["placebo"][bg][field], ""
    p = model["parameters"][name]
    return p["value"], p.get("unit", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibration", default="calibrations/trd-2026.yaml")
    ap.add_argument("--model", help="response model to validate (default: the calibration's first output)")
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--seed", type=int, help="default: the calibration seed + 1 (patients the fit never saw)")
    ap.add_argument("--out", default="docs/validation.md")
    ap.add_argument("--figures", default="docs/figures")
    ap.add_argument("--sensitivity-config", default="configs/default.yaml")
    ap.add_argument("--sensitivity-patients", type=int, default=1000)
    ap.add_argument("--exe")
    args = ap.parse_args()
    t0 = time.time()
    exe = find_exe(args.exe)
    cal, targets = load_targets(args.calibration)
    model_path = args.model or rel(cal["outputs"][0]["path"], args.calibration)
    with open(model_path) as f:
        model = yaml.safe_load(f)
    seed = args.seed if args.seed is not None else int(cal["optimizer"].get("seed", 1)) + 1
    os.makedirs(args.figures, exist_ok=True)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    calibration_section = model.get("calibration") or {}
    achieved = {t["name"]: t for t in calibration_section.get("targets", [])}

    with tempfile.TemporaryDirectory(prefix="ketasim-validation-") as work:
        groups = {}
        for t in targets:
            key = (t["study_path"], tuple(t["set_list"]))
            t["group"] = key
            if key not in groups:
                groups[key] = run_study(exe, t["study_path"], t["set_list"], model_path, args.patients, seed, work,
                                        f"g{len(groups)}")
        rows = []
        for t in targets:
            res = groups[t["group"]]
            stats = arm_visit_stats(res, t["arm"])
            sim, ci = simulated_value(stats, res["visits"], t)
            within = abs(sim - float(t["observed"])) <= t["tolerance_value"]
            rows.append((t, sim, ci, within, stats["n"]))
        # One figure per study file.
        figures = []
        by_study = {}
        for t in targets:
            by_study.setdefault(t["study_path"], []).append(t)
        for study, ts in by_study.items():
            name = os.path.splitext(os.path.basename(study))[0]
            fig_path = os.path.join(args.figures, f"validation_{name}.png")
            study_figure(name, {k: v for k, v in groups.items() if k[0] == study}, ts, fig_path)
            figures.append((name, fig_path))
        fitted = list((calibration_section.get("parameters") or {}).keys())
        sens = None
        if args.sensitivity_patients > 0 and fitted:
            sens = sensitivity(exe, args.sensitivity_config, model_path, fitted, args.sensitivity_patients, seed, work)

    lines = []
    cal_rel = os.path.relpath(args.calibration)
    lines.append("# Validation of the calibrated response model\n")
    lines.append("Regenerate (from the repository root, after building `build/ketasim`; takes a few minutes):\n")
    lines.append("```")
    lines.append("build/ketasim calibrate calibrations/trd-2026.yaml      # the fit (writes models/response/trd-2026.yaml)")
    lines.append("/usr/bin/python3 tools/validation_report.py              # this report and docs/figures/validation_*.png")
    lines.append("```\n")
    lines.append("This is the report of structure `plasticity_v1` (`models/response/trd-2026.yaml`), the shipped default "
                 "until 2026-12-03. The default is now the constrained `benefit_v2` fit (issue 10): its calibration, the "
                 "issue's property tests and the leave-one-study-out cross-validation are in "
                 "[validation-v2.md](validation-v2.md).\n")
    lines.append(f"Model: `{os.path.relpath(model_path)}` ({model.get('provenance', '')}). "
                 f"Calibration file: `{cal_rel}`. Every target below was re-simulated by `ketasim run` with "
                 f"{args.patients} virtual patients per arm and seed {seed} -- patients the fit never saw (the fit used "
                 f"{cal['optimizer'].get('patients')} patients, seed {cal['optimizer'].get('seed')}). "
                 f"Report generated in {time.time() - t0:.0f} s.\n")
    lines.append("## Targets\n")
    lines.append("Observed 95% CI = observed +- 1.96 SE (SE of a proportion sqrt(p(1-p)/n), of a mean change SD/sqrt(n)). "
                 "Simulated 95% CI: Wilson (rates) or t (mean change) over the virtual patients: it measures Monte-Carlo "
                 "precision, not trial-to-trial variation. A target is met when |simulated - observed| <= tolerance "
                 "(1.96 SE unless the calibration file says otherwise). *Fit* is the value the calibration itself achieved "
                 "(its own patients) and its residual (simulated - observed) / SE.\n")
    lines.append("| target | arm | visit | endpoint | observed [95% CI] | n | simulated [95% CI] | fit (residual) | tolerance | met? |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    unmet = []
    for t, sim, ci, within, n in rows:
        obs = float(t["observed"])
        e = t["endpoint"]
        h = Z95 * t["se_value"]
        a = achieved.get(t["name"], {})
        fit = f"{fmt(float(a['achieved']), e)} ({float(a['residual']):+.2f})" if a else "-"
        tol = f"+-{fmt(t['tolerance_value'], e)}"
        lines.append(f"| {t['name']} | {t['arm']} | {t['visit_d']:g} d | {e} | {fmt(obs, e)} [{fmt(obs - h, e)}, {fmt(obs + h, e)}] "
                     f"| {t.get('n', '-')} | {fmt(sim, e)} [{fmt(ci[0], e)}, {fmt(ci[1], e)}] | {fit} | {tol} | "
                     f"{'yes' if within else '**no**'} |")
        if not within:
            unmet.append((t, sim))
    met = len(rows) - len(unmet)
    lines.append(f"\n**{met} of {len(rows)} targets met** on independent virtual patients.")
    if unmet:
        lines.append("Not met: " + ", ".join(f"`{t['name']}` (observed {fmt(float(t['observed']), t['endpoint'])}, "
                                             f"simulated {fmt(sim, t['endpoint'])})" for t, sim in unmet) +
                     ". Why: see *Targets that cannot all be met* below.\n")
    lines.append("\n## Fitted parameters\n")
    lines.append("| parameter | start | fitted | unit | bounds |")
    lines.append("|---|---|---|---|---|")
    for name, p in (calibration_section.get("parameters") or {}).items():
        lines.append(f"| {name} | {p['start']} | {p['fitted']} | {p['unit']} | {p['min']}-{p['max']} ({p['scale']}) |")
    obj = calibration_section.get("objective") or {}
    lines.append(f"\nObjective (sum of squared residuals over {len(rows)} targets): {obj.get('start')} at the hand-set "
                 f"start -> {obj.get('fitted')} fitted; {calibration_section.get('algorithm')}, "
                 f"{calibration_section.get('evaluations')} evaluations, status {calibration_section.get('status')}, "
                 f"{calibration_section.get('seconds')} s (command `{calibration_section.get('command')}`, "
                 f"{calibration_section.get('date')}).\n")
    lines.append("## Figures\n")
    for name, path in figures:
        lines.append(f"![{name}]({os.path.relpath(path, out_dir)})\n")
    if sens:
        lines.append("## Sensitivity: remission difference IV vs intranasal\n")
        lines.append(f"`{args.sensitivity_config}` (IV racemic ketamine 0.5 mg/kg vs esketamine 84 mg nasal, twice weekly "
                     f"for 4 weeks, then every other week, on a new oral antidepressant), {args.sensitivity_patients} "
                     f"patients per arm, seed {seed}: remission at day {sens['primary']:g}, "
                     f"`{sens['iv']}` {100 * sens['base_rates'][sens['iv']]:.1f}% vs `{sens['nasal']}` "
                     f"{100 * sens['base_rates'][sens['nasal']]:.1f}%, difference **{100 * sens['base']:+.1f} points**. "
                     "One fitted parameter at a time at 0.8x and 1.2x its fitted value (others fixed, same patients):\n")
        lines.append("| parameter | fitted | difference at 0.8x (points) | difference at 1.2x (points) | swing |")
        lines.append("|---|---|---|---|---|")
        for r in sorted(sens["rows"], key=lambda r: -abs(r[1.2] - r[0.8])):
            value, unit = model_value(model, r["name"])
            lines.append(f"| {r['name']} | {value} {unit} | {100 * r[0.8]:+.1f} | {100 * r[1.2]:+.1f} | "
                         f"{100 * abs(r[1.2] - r[0.8]):.1f} |")
        lines.append("")
    lines.append(DISCUSSION)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out} ({met}/{len(rows)} targets met) and {len(figures)} figures in {time.time() - t0:.0f} s")


DISCUSSION = """## Structural assumptions

- **Structure as in spec 5.1, unchanged**: competitive NMDA occupancy from unbound concentrations (Ki per
  moiety, racemic = S + R), a sigmoid drive (occupancy50 fitted, Hill 3 fixed, no effect-site delay), one
  plasticity state P (kin 1/h fixed as the scale of P; kout and p50 fitted), a logit-normal per-patient Emax,
  a multiplicative placebo/background fraction rising as 1 - exp(-t/onset), OU mood noise and rater error,
  integer MADRS clipped to 0-60.
- **Background treatment is part of the arm, not a fudge factor**: TRANSFORM-2 arms start a new oral
  antidepressant; Singh and single-infusion ketamine arms run in a saline-infusion setting (their own
  psychoactive effects are counted as drug effect); midazolam is the active-placebo background. One placebo
  level per background is shared by every study using it (Singh's two saline arms get the same placebo).
- **Placebo arms** are the active arm's schedule with a negligible dose (the regimen parser requires dose > 0).
- **Trial sizes** per arm are not in the reference file: equal splits of the published totals were assumed
  (TRANSFORM-2 112/111, Singh 17 per arm, Han 184 on ketamine, Wilkinson 184/92/92). They set the weights.
- **Cohorts**: every target study uses baseline MADRS 37.3 (SD 5.5, 28-60), weight 80 (SD 15) kg, 60% women.
  TRANSFORM-2 esketamine is 56 mg then 84 mg (the flexible 56/84 mg arm modelled as all 84 mg).
- **Meta-analyses as single trials**: Han 2016 and Wilkinson 2019 pool 9 trials each with different
  populations and remission definitions; here they are one 0.5 mg/kg infusion in one cohort, remission
  MADRS <= 10.
- **Fixed, not fitted**: noise (OU SD 3 points, half-life 7 d, rater SD 2: no target measures
  within-patient variability), Hill coefficient and ke0 (one IV dose level and one nasal regimen cannot
  separate threshold, steepness and delay), placebo spreads and onsets (each background has one or two time
  points).

## Targets that cannot all be met (state of the trd-2026 fit)

- **Durability is bounded, not fitted freely**: `kout` has a lower bound of 0.2/d (benefit half-life
  <= 3.5 d), from the reference's "effect lost by days 10-12" after a single infusion (Kishimoto 2016,
  section 3; spec 5.1), which is not a fitting target. Fitted without it, `kout` went to 0.05/d (half-life
  ~14 d), p50 to 0.008 and the model lost every dose and interval response: remission at day 84 was 53.6%
  for every IV dose from 0.25 to 1 mg/kg and every interval from 7 to 28 days, which makes regimen
  comparisons meaningless. The objective barely changed (19.7 without the bound, 20.1 with it): the
  targets do not identify durability, so the external fact has to.
- **Fit vs independent patients**: the fit uses 1000 patients per study (seed 2026; objective 606 -> 20.1,
  180 s on 2 cores) and meets 15 of 17 targets on its own patients and on the independent 2000 above. A
  first fit with 500 patients met 16 on its own patients but 14 on independent ones (it partly fitted those
  particular patients).
- **TRANSFORM-2 placebo vs esketamine**: the placebo arm (new oral antidepressant) needs a large
  background effect (52% response) while the esketamine-placebo difference is modest (17 points); the same
  Emax also has to give the large single-infusion IV effect. The fit splits the difference: esketamine
  response comes out too high (78.6% vs 69.3%, just outside tolerance) and placebo response low.
- **Han vs Wilkinson at day 1**: 52.2% vs 45-46% ketamine response at the same time point in overlapping
  pooled trials; one simulated arm sits between them (closer to Wilkinson, whose midazolam/saline arms tie
  the placebo levels).
- **Han remission rising while response falls** (21% -> 26% vs 52% -> 40% from 24 h to day 7): one
  plasticity state decaying after a single dose cannot make remission rise. With the durability bound the
  fit keeps day-7 remission within tolerance (23% vs 26%) but not the 24-h response (41% vs 52%); a second,
  slower responder process would be the structural fix.
- **Singh placebo twice vs thrice weekly**: -5.7 vs -3.1 points with the same saline background; the model
  gives both the same change (both within tolerance).
- **Parameters at or near bounds**: kout at its lower bound (by design, above) and occupancy50 at its lower
  bound 0.2 (0.217); occupancy50 is bounded to 0.2-0.6 so that
  a nasal dose-response can exist (without the bound it went to 0.05: no target ranges doses, so the IV vs
  nasal potency is weakly identified); the sensitivity table shows how much the IV-vs-nasal difference
  depends on it.
"""


if __name__ == "__main__":
    main()
