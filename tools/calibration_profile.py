#!/usr/bin/env python3
"""The calibration objective along one parameter, counting flags ("counts") and with expected
probabilities per patient ("expected"), the other parameters at their start values:

    /usr/bin/python3 tools/calibration_profile.py calibrations/v2-2026.yaml emax_typical \
        [--study arms/single-infusion.yaml] [--points 41] [--lo 0.7 --hi 0.8] [--exe build/ketasim]

--study keeps only that study's targets (cheaper; the whole calibration otherwise); --lo/--hi zoom
into part of the parameter's range (bounds become the zoom window; the grid is uniform in the
optimiser's scaled space). Prints a tab-separated table (value, counts, expected).
"""
import argparse
import os
import tempfile

import calibration_variant as cv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("calibration")
    ap.add_argument("parameter")
    ap.add_argument("--study", action="append", help="keep only these studies' targets (as written in the file)")
    ap.add_argument("--points", type=int, default=21)
    ap.add_argument("--lo", type=float)
    ap.add_argument("--hi", type=float)
    ap.add_argument("--exe", default="build/ketasim")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "profile.yaml")
        cal = cv.variant(a.calibration, path, keep=(lambda t: t["study"] in a.study) if a.study else None,
                         outputs=[{"name": "unused", "path": os.path.join(tmp, "unused.yaml")}])
        if a.lo is not None or a.hi is not None:
            p = cal["parameters"][a.parameter]
            if a.lo is not None:
                p["min"] = a.lo
            if a.hi is not None:
                p["max"] = a.hi
            p["start"] = p["min"]
            import yaml
            with open(path, "w") as f:
                yaml.safe_dump(cal, f, sort_keys=False, width=200)
        print(cv.ketasim(a.exe, "calibrate", path, "--profile", a.parameter, "--points", str(a.points)), end="")


if __name__ == "__main__":
    main()
