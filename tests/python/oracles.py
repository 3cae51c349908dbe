"""Independent oracles for the results file: closed forms and the documented endpoint rules.

Nothing here imports or mirrors ketasim's code: concentrations come from the closed form of a
one-compartment IV model (tests/data/oracles/one-compartment.yaml), endpoints from the rules as
written in docs/config.md and docs/response-model.md section 1.7. The test modules
test_oracle_*.py use these functions on files written by the real binary.
"""
import math
import os
import subprocess

import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
DATA = os.path.join(SOURCE_DIR, "tests", "data", "oracles")


def run(config, out, *extra, threads=None):
    cmd = [KETASIM_EXE, "run", os.path.join(DATA, config), "-o", out, "--quiet", *extra]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


# ---------------------------------------------------------------------------------------------
# One-compartment IV infusion, superposition of doses (amounts in mg, volumes in L, times in h).
# ng/mL = mg/L x 1000.

def infusion_concentration(t, dose_times, dose_mg, duration_h, cl, v):
    """C(t) in ng/mL: sum over doses of (R/CL)(1 - e^{-k s}) during the infusion (0 <= s <= T) and
    C(T) e^{-k (s - T)} after it, s = t - dose time, k = CL/V, R = dose/T."""
    t = np.asarray(t, dtype=np.float64)
    k = cl / v
    c = np.zeros_like(t)
    for td in dose_times:
        s = t - td
        rate_over_cl = dose_mg / duration_h / cl
        during = (s >= 0) & (s <= duration_h)
        after = s > duration_h
        c[during] += rate_over_cl * -np.expm1(-k * s[during])
        c[after] += rate_over_cl * -np.expm1(-k * duration_h) * np.exp(-k * (s[after] - duration_h))
    return c * 1000.0


def infusion_auc(a, b, dose_times, dose_mg, duration_h, cl, v):
    """Exact integral of infusion_concentration over [a, b], in h*ng/mL."""
    k = cl / v
    rate_over_cl = dose_mg / duration_h / cl

    def antiderivative(s):
        if s <= 0:
            return 0.0
        if s <= duration_h:
            return rate_over_cl * (s + math.expm1(-k * s) / k)
        end = rate_over_cl * (duration_h + math.expm1(-k * duration_h) / k)
        return end + rate_over_cl * -math.expm1(-k * duration_h) * -math.expm1(-k * (s - duration_h)) / k

    return 1000.0 * sum(antiderivative(b - td) - antiderivative(a - td) for td in dose_times)


# ---------------------------------------------------------------------------------------------
# Endpoints, as documented (docs/config.md `endpoints.*`, docs/response-model.md 1.7).

def endpoint_flags(scores, baseline, primary, response_fraction, remission_threshold, relapse_threshold,
                   relapse_visits, locf):
    """(response, remission, relapse, change) of one patient from its visit scores (NaN = left the
    study; day 0 is visit 0 and equals the baseline).

    - response: B - Y >= fraction * B; remission: Y <= threshold; at the primary visit.
    - a patient who left before the primary visit: change from the last observed score; flags 0
      under non-responder imputation, from the last observed score under LOCF.
    - relapse: after the first visit meeting the response criterion, `relapse_visits`
      consecutive observed visits with Y >= relapse threshold, over all visits.
    """
    scores = [float(s) for s in scores]
    observed = [i for i, s in enumerate(scores) if not math.isnan(s)]
    completed = not math.isnan(scores[primary])
    if completed:
        y = scores[primary]
    else:
        y = scores[max(i for i in observed if i <= primary)]
    change = y - baseline
    use_flags = completed or locf
    response = int(use_flags and baseline - y >= response_fraction * baseline)
    remission = int(use_flags and y <= remission_threshold)
    relapse = 0
    responded = False
    run_length = 0
    for i in observed:
        if i == 0:
            continue
        s = scores[i]
        if responded:
            run_length = run_length + 1 if s >= relapse_threshold else 0
            if run_length >= relapse_visits:
                relapse = 1
        if baseline - s >= response_fraction * baseline:
            responded = True
    return response, remission, relapse, change


def wilson_halfwidth_se(p, n):
    """Binomial standard error sqrt(p (1-p) / n)."""
    return math.sqrt(p * (1.0 - p) / n)
