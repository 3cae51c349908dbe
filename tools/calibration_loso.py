#!/usr/bin/env python3
"""Leave-one-study-out cross-validation of a calibration (issue 10).

For each study of the calibration (targets grouped by their `study:` file), refit without that
study's targets, starting from the full fit (the calibration's first output, which must exist:
run `ketasim calibrate FILE` first) with a reduced budget, then evaluate every target with the
refitted model on the calibration's own virtual patients (`ketasim calibrate --evaluate`). Prints
a markdown table: in-sample fit (from the full fit's calibration block) next to the held-out
prediction, residuals in SE, met/missed (within the target's tolerance).

    /usr/bin/python3 tools/calibration_loso.py calibrations/v2-2026.yaml --evaluations 12 \
        [--study arms/daly2018.yaml ...] [--patients 250] [--exe build/ketasim] [--work build/loso]

Refits are kept in --work (loso_<study>.yaml) so an interrupted run resumes: a study whose refit
exists is not refitted again (delete the folder to start over).
"""
import argparse
import os
import time

import calibration_variant as cv


def fmt(endpoint, x):
    return f"{x:+.1f}" if endpoint == "mean_change" else f"{100 * x:.1f}%"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("calibration")
    ap.add_argument("--evaluations", type=int, default=12, help="refit budget per held-out study")
    ap.add_argument("--study", action="append", help="only these held-out studies (default: all)")
    ap.add_argument("--patients", type=int, help="patients per study in the refits (default: the calibration's)")
    ap.add_argument("--exe", default="build/ketasim")
    ap.add_argument("--work", default="build/loso")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    cal = cv.load(a.calibration)
    full_path = cv.absolute(a.calibration, cal["outputs"][0]["path"])
    full = cv.load(full_path)["calibration"]
    in_sample = {t["name"]: t for t in full["targets"]}
    studies = []
    for t in cal["targets"]:
        if t["study"] not in studies:
            studies.append(t["study"])
    held = a.study or studies
    # Guard: `--evaluate` of the full fit must give back what the fit recorded (4 significant
    # digits), or the held-out predictions below would not be of the model they claim to be.
    check = os.path.join(a.work, "full_evaluate.yaml")
    cv.variant(a.calibration, check, start_model=full_path, outputs=[{"name": "unused", "path": full_path + ".unused"}])
    for name, row in cv.evaluate(a.exe, check)[0].items():
        recorded = float(in_sample[name]["achieved"])
        if abs(row[2] - recorded) > 1e-3 * max(abs(recorded), 1e-2):
            raise SystemExit(f"{name}: --evaluate of {full_path} gives {row[2]}, the fit recorded {recorded}")
    opt = {"max_evaluations": a.evaluations, "restarts": 0}
    if a.patients:
        opt["patients"] = a.patients
    rows = []
    for study in held:
        tag = os.path.splitext(os.path.basename(study))[0]
        refit = os.path.abspath(os.path.join(a.work, f"loso_{tag}.yaml"))
        if not os.path.exists(refit):
            path = os.path.join(a.work, f"loso_{tag}_calibration.yaml")
            cv.variant(a.calibration, path, keep=lambda t, s=study: t["study"] != s, start_model=full_path,
                       optimizer=opt, outputs=[{"name": f"loso-{tag}", "path": refit}])
            t0 = time.time()
            cv.ketasim(a.exe, "calibrate", path)
            print(f"# refit without {study}: {time.time() - t0:.0f} s", flush=True)
        path = os.path.join(a.work, f"loso_{tag}_evaluate.yaml")
        cv.variant(a.calibration, path, start_model=refit, outputs=[{"name": "unused", "path": refit + ".unused"}])
        evaluated, _ = cv.evaluate(a.exe, path)
        refit_cal = cv.load(refit)["calibration"]
        for t in cal["targets"]:
            if t["study"] != study:
                continue
            obs, se, sim, res, met = evaluated[t["name"]]
            ins = in_sample[t["name"]]
            # A one-sided target's `observed` is its bound (calibrations/README.md): say so in the table.
            bound = {"upper": "at most ", "lower": "at least "}.get(t.get("bound"), "")
            rows.append((study, t["name"] + (f" ({bound.strip()})" if bound else ""), t["endpoint"], obs, se,
                         float(ins["achieved"]), float(ins["residual"]),
                         bool(ins["within_tolerance"]), sim, res, met, refit_cal["evaluations"], refit_cal["status"]))
    print("| held-out study | target | observed | SE | in-sample fit | resid (SE) | met | held-out prediction | "
          "resid (SE) | met | refit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (study, name, e, obs, se, ins, ires, imet, sim, res, met, evals, status) in rows:
        se_text = f"{se:.2f}" if e == "mean_change" else f"{100 * se:.1f}%"
        print(f"| {study} | {name} | {fmt(e, obs)} | {se_text} | {fmt(e, ins)} | {ires:+.2f} | "
              f"{'yes' if imet else '**no**'} | {fmt(e, sim)} | {res:+.2f} | {'yes' if met else '**no**'} | "
              f"{evals} ev, {status} |")
    n_in = sum(r[7] for r in rows)
    n_out = sum(r[10] for r in rows)
    print(f"\nHeld-out studies: {len(held)} of {len(studies)}; targets met in-sample {n_in} of {len(rows)}, "
          f"held-out {n_out} of {len(rows)}.")


if __name__ == "__main__":
    main()
