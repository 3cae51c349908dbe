#!/usr/bin/env python3
"""Markdown table of a fitted response model's calibration block (targets: observed, start, fit).

The in-sample table of a `ketasim calibrate` output, straight from what the fit itself recorded
(its own virtual patients); docs/validation.md's re-simulation on fresh patients is
tools/validation_report.py.

    /usr/bin/python3 tools/calibration_table.py models/response/v2-2026.yaml
"""
import sys

import yaml


def fmt(endpoint, x):
    x = float(x)
    return f"{x:+.1f}" if endpoint == "mean_change" else f"{100 * x:.1f}%"


def main():
    with open(sys.argv[1]) as f:
        model = yaml.safe_load(f)
    cal = model["calibration"]
    print(f"Model `{sys.argv[1]}`: `{cal['command']}` ({cal['date']}, {cal['algorithm']}, {cal['status']}, "
          f"{cal['evaluations']} evaluations, {cal['patients_per_study']} patients per study, seed {cal['seed']}); "
          f"objective {cal['objective']['start']} -> {cal['objective']['fitted']}.\n")
    print("| target | arm | visit | endpoint | observed | SE | start | fit | residual | met? |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in cal["targets"]:
        arm = t["arm"] + (f" - {t['versus']}" if "versus" in t else "")
        e = t["endpoint"]
        se = f"{float(t['se']):.2f}" if e == "mean_change" else f"{100 * float(t['se']):.1f}%"
        # A one-sided target's `observed` is its bound (calibrations/README.md).
        bound = {"upper": "at most ", "lower": "at least "}.get(t.get("bound"), "")
        print(f"| {t['name']} | {arm} | {t['visit_d']} d | {e} | {bound}{fmt(e, t['observed'])} | {se} | "
              f"{fmt(e, t['start'])} | {fmt(e, t['achieved'])} | {float(t['residual']):+.2f} | "
              f"{'yes' if t['within_tolerance'] else '**no**'} |")
    print(f"\n**{cal['targets_within_tolerance']} targets met** in-sample.\n")
    print("| parameter | unit | start | fitted | bounds |")
    print("|---|---|---|---|---|")
    for name, p in cal["parameters"].items():
        at = " (at bound)" if float(p["fitted"]) in (float(p["min"]), float(p["max"])) else ""
        print(f"| {name} | {p['unit']} | {p['start']} | {p['fitted']}{at} | {p['min']}-{p['max']} |")


if __name__ == "__main__":
    main()
