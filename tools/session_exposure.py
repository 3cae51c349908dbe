#!/usr/bin/env python3
"""One session's NMDA occupancy-hours at the clinical doses (calibrations/session-exposure.yaml).

benefit_v2's fast state integrates occupancy over time; its half-effect `fast_half_effect` is
bounded in calibrations/v2-2026.yaml to the range printed here (lowest to highest clinical dose),
so the exposure-response is not saturated at clinical doses. Prints the median, 10th and 90th
percentile of F = b / (1 - b) at day 1 per arm (see the config's comment for why that is F).

    /usr/bin/python3 tools/session_exposure.py [--ketasim build/ketasim]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ketasim", default=os.path.join(ROOT, "build", "ketasim"))
    args = parser.parse_args()
    config = os.path.join(ROOT, "calibrations", "session-exposure.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "session.h5")
        subprocess.run([args.ketasim, "run", config, "-o", out, "--quiet"], check=True, stdout=subprocess.DEVNULL)
        with h5py.File(out, "r") as f:
            arms = [a.decode() if isinstance(a, bytes) else str(a) for a in f["arm"][...]]
            visits = list(f["visit"][...])
            day1 = visits.index(1.0)
            state = f["response_state"][...].astype(float)
            status = f["status"][...]
    print("arm\tmedian\tp10\tp90  (occupancy-hours of one session, at day 1)")
    for a, name in enumerate(arms):
        b = state[a, status[a] == 0, day1]
        occupancy_h = b / (1.0 - b)
        print(f"{name}\t{np.median(occupancy_h):.3f}\t{np.percentile(occupancy_h, 10):.3f}\t{np.percentile(occupancy_h, 90):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
