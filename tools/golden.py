#!/usr/bin/python3
"""Golden snapshot of a small whole trial (tests/golden/trial-small.yaml): what every dataset of its
results file holds, so that any change to any number shows up in review.

    /usr/bin/python3 tools/golden.py check  [--exe build/ketasim]     # exit 1 and a diff when it changed
    /usr/bin/python3 tools/golden.py update --why "reason" [--exe ...]  # rewrite the snapshot, log why

Per dataset the snapshot keeps shape, dtype, NaN count, min/max/mean and a SHA-256 of the values
rounded to 9 significant digits. Rounding keeps the snapshot stable across libm builds that differ
in the last bit (glibc picks FMA variants of exp/pow by CPU), while any real change (a different
dose, rule or index) moves far more than the ninth digit. `update` appends the date, the commit and
the reason to tests/golden/CHANGES.md, so the history says why numbers moved.
"""
import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STUDY = os.path.join(SOURCE_DIR, "tests", "golden", "trial-small.yaml")
SNAPSHOT = os.path.join(SOURCE_DIR, "tests", "golden", "trial-small.json")
CHANGES = os.path.join(SOURCE_DIR, "tests", "golden", "CHANGES.md")
# Attributes and datasets that legitimately change from run to run or commit to commit.
VOLATILE = {"input_text", "input_sha256", "input_file", "input_role"}


def summarize(path):
    out = {}
    with h5py.File(path, "r") as f:
        for name in sorted(f):
            ds = f[name]
            if not isinstance(ds, h5py.Dataset) or name in VOLATILE:
                continue
            values = ds[...]
            entry = {"shape": list(values.shape), "dtype": str(values.dtype)}
            if values.dtype.kind in "fiu":
                v = values.astype(np.float64)
                finite = v[np.isfinite(v)]
                entry["nan"] = int(np.isnan(v).sum())
                entry["min"] = float(finite.min()) if finite.size else None
                entry["max"] = float(finite.max()) if finite.size else None
                entry["mean"] = float(finite.mean()) if finite.size else None
                rounded = np.array([float(f"{x:.9g}") for x in v.ravel()]) if v.size < 2_000_000 else v.ravel()
                entry["sha256"] = hashlib.sha256(np.ascontiguousarray(rounded).tobytes()).hexdigest()
            else:
                text = [x.decode() if isinstance(x, bytes) else str(x) for x in values.ravel()]
                entry["values"] = text
            out[name] = entry
    return out


def simulate(exe):
    tmp = tempfile.mkdtemp(prefix="ketasim_golden_")
    path = os.path.join(tmp, "golden.h5")
    proc = subprocess.run([exe, "run", STUDY, "-o", path, "--quiet", "--threads", "2"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"golden: ketasim run failed ({proc.returncode}):\n{proc.stderr}")
    try:
        return summarize(path)
    finally:
        os.remove(path)
        os.rmdir(tmp)


def diff(old, new):
    lines = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            lines.append(f"+ {name} (new dataset)")
        elif name not in new:
            lines.append(f"- {name} (dataset gone)")
        elif old[name] != new[name]:
            changed = [k for k in new[name] if old[name].get(k) != new[name][k]]
            detail = ", ".join(f"{k}: {old[name].get(k)} -> {new[name][k]}" for k in changed if k != "sha256")
            lines.append(f"~ {name}: {detail or 'values changed below the summaries (sha256)'}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["check", "update"])
    ap.add_argument("--exe", default=os.environ.get("KETASIM_EXE", os.path.join(SOURCE_DIR, "build", "ketasim")))
    ap.add_argument("--why", help="why the numbers changed (required by update)")
    args = ap.parse_args()
    new = simulate(args.exe)
    old = json.load(open(SNAPSHOT)) if os.path.exists(SNAPSHOT) else {}
    changes = diff(old, new)
    if args.action == "check":
        if changes:
            print("golden snapshot differs from tests/golden/trial-small.json:\n" + "\n".join(changes))
            print("If the change is intended, run: /usr/bin/python3 tools/golden.py update --why \"...\"")
            return 1
        print(f"golden snapshot: {len(new)} datasets unchanged")
        return 0
    if not args.why:
        ap.error("update needs --why: say why the numbers changed")
    with open(SNAPSHOT, "w") as fh:
        json.dump(new, fh, indent=1, sort_keys=True)
        fh.write("\n")
    commit = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    with open(CHANGES, "a") as fh:
        fh.write(f"\n## {datetime.date.today().isoformat()} (on top of {commit})\n{args.why}\n")
        for line in changes or ["(no dataset changed)"]:
            fh.write(f"- `{line}`\n")
    print(f"wrote {SNAPSHOT} ({len(changes)} datasets changed) and logged why in {CHANGES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
