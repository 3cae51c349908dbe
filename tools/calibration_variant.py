#!/usr/bin/env python3
"""Shared helper of tools/calibration_profile.py and tools/calibration_loso.py: writes a variant of a
calibration file (a subset of its targets, another start model, other optimizer settings, outputs
elsewhere) with every relative path made absolute, so the variant can live in a scratch folder.
"""
import os
import subprocess
import sys

import yaml


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def absolute(base_file, rel):
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(base_file)), rel))


def variant(calibration_path, out_path, keep=None, start_model=None, optimizer=None, outputs=None):
    """keep(target) -> bool selects targets; start_model and output paths are absolute or None. With a
    start_model, the parameters' `start:` values are dropped so the fit starts at that model's values."""
    cal = load(calibration_path)
    cal["start_model"] = start_model or absolute(calibration_path, cal["start_model"])
    if start_model:
        # Start from (or evaluate) the given model's values: `start:` in the file would override them.
        for p in cal["parameters"].values():
            p.pop("start", None)
    cal["outputs"] = outputs if outputs is not None else [
        {"name": o["name"], "path": absolute(calibration_path, o["path"])} for o in cal["outputs"]]
    targets = []
    for t in cal["targets"]:
        if keep is None or keep(t):
            t = dict(t)
            t["study"] = absolute(calibration_path, t["study"])
            targets.append(t)
    cal["targets"] = targets
    cal["optimizer"].update(optimizer or {})
    with open(out_path, "w") as f:
        yaml.safe_dump(cal, f, sort_keys=False, width=200)
    return cal


def ketasim(exe, *args):
    """Runs `nice ketasim ...` and returns its stdout (raises with stderr on failure)."""
    r = subprocess.run(["nice", exe, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"ketasim {' '.join(args)} failed ({r.returncode})")
    return r.stdout


def evaluate(exe, calibration_path):
    """`ketasim calibrate FILE --evaluate`: {target: (observed, se, simulated, residual, met)}, objective."""
    rows, objective = {}, None
    for line in ketasim(exe, "calibrate", calibration_path, "--evaluate").splitlines()[1:]:
        f = line.split("\t")
        if f[0] == "objective":
            objective = float(f[1])
            continue
        rows[f[0]] = (float(f[1]), float(f[2]), float(f[3]), float(f[4]), f[5] == "yes")
    return rows, objective
