#!/usr/bin/python3
"""Write a SYNTHETIC "observed" esketamine data set for trying and testing the VPC.

Not data from any study: ketasim's own intranasal esketamine arm (configs/default.yaml, a seed
the tests' simulations do not use), sampled like a small PK study and given log-normal
measurement error, in the NONMEM-style layout `ketasim_analysis.py vpc --observed` reads.

    build/ketasim run configs/default.yaml --patients 24 --seed 2027 \\
        --set outputs.concentration=full --set outputs.batch_patients=24 -o /tmp/observed-source.h5
    /usr/bin/python3 tools/make_observed_example.py /tmp/observed-source.h5 \\
        tests/data/vpc/observed-esketamine-synthetic.csv

Design: 24 patients; samples 1, 2, 3, 4, 6, 8, 12 and 24 h after the first session (56 mg) and
after the eighth (84 mg, day 24.5), and a trough before the fourth session (day 10.5, 84 h after
the third); proportional error CV 25% (log-normal, so values stay positive). One EVID 1 row per
session (AMT = session total in mg), ARM = the simulated arm's name.
"""
import argparse
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ketasim_analysis as ka  # noqa: E402

ARM, MOIETY = "intranasal_esketamine", "esketamine"
TAD_H = [1, 2, 3, 4, 6, 8, 12, 24]
SESSIONS = (0, 7)          # first and eighth session
TROUGH_BEFORE = 3          # pre-dose sample of the fourth session
CV = 0.25
SEED = 2027


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a ketasim run of configs/default.yaml with outputs.concentration: full")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    with ka.load(args.results) as ds:
        sessions = ka.nominal_sessions(ka._arm_regimens(ds)[ARM])
        grid = ds["time"].values.astype(float)
        conc = ds[ka.MOIETY_PREFIX + MOIETY].sel(arm=ARM).transpose("patient", "time").values.astype(float)
        ok = ds["status"].sel(arm=ARM).values == 0
    rows = []
    for pid, p in enumerate(np.flatnonzero(ok)):
        for t, dose, _ in sessions:
            rows.append(dict(ID=pid + 1, TIME=t, EVID=1, AMT=dose, DV=np.nan, MDV=1, ARM=ARM))
        times = [sessions[s][0] + tad for s in SESSIONS for tad in TAD_H] + [sessions[TROUGH_BEFORE][0]]
        for t in times:
            c = conc[p, int(np.argmin(np.abs(grid - t)))]
            dv = c * np.exp(rng.normal(0.0, np.sqrt(np.log(1 + CV ** 2))))
            rows.append(dict(ID=pid + 1, TIME=t, EVID=0, AMT=np.nan, DV=round(dv, 4), MDV=0, ARM=ARM))
    frame = pd.DataFrame(rows).sort_values(["ID", "TIME", "EVID"], kind="stable")
    frame.to_csv(args.output, index=False, na_rep=".")
    print(f"{args.output}: {int((frame.EVID == 0).sum())} observations of {frame.ID.nunique()} patients")
    return 0


if __name__ == "__main__":
    sys.exit(main())
