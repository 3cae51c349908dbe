#!/usr/bin/python3
"""Occupancy from unbound concentration and the plasticity state, derived by hand for a
noise-free patient (issue 16, item 1).

tests/data/oracles/noise-free.yaml: a 3-day constant IV infusion of the one-compartment test
model (fu = 0.5, MW 237.73 g/mol), response model noise-free-response.yaml (no placebo, no OU or
rater noise, Emax = 0.9 for everybody). Then, from docs/response-model.md section 1:

    C(t)  closed form of the infusion (ng/mL = ug/L), with the patient's stored pk_CL, pk_V
    x(t)  = C fu / MW / Ki            (unbound uM over Ki)
    occ   = x / (1 + x),   g = occ^h / (occ50^h + occ^h)
    P(t)  = integral_0^t kin g(s) e^{-kout (t - s)} ds      (scipy quad, not the engine's grid)
    MADRS = round(B (1 - Emax P / (P50 + P)))

The file has no occupancy dataset (yet), so occupancy is checked through the score it drives.
"""
import math
import os
import sys
import tempfile
import unittest

import h5py
import numpy as np
from scipy import integrate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracles  # noqa: E402

FU, MW, KI = 0.5, 237.73, 0.49              # one-compartment.yaml, noise-free-response.yaml
OCC50, HILL, KIN, KOUT, P50, EMAX = 0.3, 2.0, 1.0, 0.012, 20.0, 0.9
DOSE_PER_KG, INFUSION_H = 1.25, 72.0
# The engine integrates P on its time grid (5 min for 12 h after the infusion starts, hourly
# after), exactly for a drive linear between grid points. Against the exact integral, the
# trapezoid-type error is <= (h^2/12) max|g''| kin t ~ (1/12)(0.02)(72) ~ 0.1 in P (k <= 0.15/h,
# |g''| <= k^2), which moves the score by <= B Emax P50/(P50 + P)^2 x 0.1 < 0.15 points for the
# P reached here (P > 5 after the first hours). Scores within MARGIN of a rounding boundary may
# round either way; all others must round exactly.
MARGIN = 0.15


def mean_score(baseline, times_h, cl, v, weight, fu):
    rate_over_cl = DOSE_PER_KG * weight / INFUSION_H / cl * 1000.0  # steady state, ng/mL
    k = cl / v
    c_end = rate_over_cl * -math.expm1(-k * INFUSION_H)

    def drive(t):
        c = rate_over_cl * -math.expm1(-k * t) if t <= INFUSION_H else c_end * math.exp(-k * (t - INFUSION_H))
        x = c * fu / MW / KI
        occ = x / (1.0 + x)
        return occ ** HILL / (OCC50 ** HILL + occ ** HILL)

    # P between consecutive visits: P(b) = P(a) e^{-kout (b - a)} + integral_a^b kin g(s) e^{-kout (b - s)} ds.
    out, p_t, previous = [], 0.0, 0.0
    for t in times_h:
        if t > previous:
            pts = [x for x in (12.0, INFUSION_H) if previous < x < t]
            gain, _ = integrate.quad(lambda s: KIN * drive(s) * math.exp(-KOUT * (t - s)), previous, t,
                                     points=pts or None, limit=200, epsabs=1e-12, epsrel=1e-10)
            p_t = p_t * math.exp(-KOUT * (t - previous)) + gain
            previous = t
        out.append(float(baseline) if t <= 0.0 else baseline * (1.0 - EMAX * p_t / (P50 + p_t)))
    return np.array(out)


def occupancy(times_h, cl, v, weight, fu=FU):
    """Unbound NMDA occupancy S/(1+S), S = C fu / MW / Ki, on the closed-form curve."""
    rate_over_cl = DOSE_PER_KG * weight / INFUSION_H / cl * 1000.0
    k = cl / v
    c_end = rate_over_cl * -math.expm1(-k * INFUSION_H)
    t = np.asarray(times_h, dtype=float)
    c = np.where(t <= INFUSION_H, rate_over_cl * -np.expm1(-k * np.minimum(t, INFUSION_H)),
                 c_end * np.exp(-k * np.maximum(t - INFUSION_H, 0.0)))
    x = c * fu / MW / KI
    return x / (1.0 + x)


class NoiseFreeResponseOracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_oracle_rs_")
        path = os.path.join(cls.tmp.name, "noise-free.h5")
        oracles.run("noise-free.yaml", path, "--set", "outputs.response_state=true")
        with h5py.File(path, "r") as f:
            cls.d = {name: f[name][...] for name in f if isinstance(f[name], h5py.Dataset)}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_scores_follow_unbound_occupancy(self):
        d = self.d
        times_h = d["visit"] * 24.0
        exact = within = 0
        total_would_fail = 0
        n = d["madrs"].shape[1]
        for p in range(n):
            self.assertEqual(d["status"][0, p], 0)
            b = float(d["baseline_madrs"][0, p])
            args = (times_h, d["pk_CL"][0, p], d["pk_V"][0, p], d["weight_kg"][p])
            mu = mean_score(b, *args, fu=FU)
            got = d["madrs"][0, p].astype(float)
            dist = np.abs(mu - np.round(mu))  # distance from the integer = how safe the rounding is
            safe = np.abs(dist - 0.5) > MARGIN
            self.assertTrue((np.abs(got - mu) <= 0.5 + MARGIN).all(),
                            f"patient {p}: stored {got.tolist()}, oracle mean {np.round(mu, 3).tolist()}")
            np.testing.assert_array_equal(got[safe], np.round(mu[safe]), err_msg=f"patient {p}")
            exact += int(safe.sum())
            within += safe.size
            # Power of this test: the same oracle with total instead of unbound concentration
            # must disagree with the file for many patients.
            mu_total = mean_score(b, *args, fu=1.0)
            total_would_fail += int((np.abs(got - mu_total) > 0.5 + MARGIN).any())
        self.assertGreater(exact, 0.6 * within)
        self.assertGreater(total_would_fail, 0.5 * n, "the study cannot tell unbound from total occupancy")

    def test_occupancy_dataset_is_unbound_occupancy(self):
        """`occupancy` at each visit is S/(1+S) of the unbound closed-form concentration."""
        d = self.d
        times_h = d["visit"] * 24.0
        for p in range(d["occupancy"].shape[1]):
            expected = occupancy(times_h, d["pk_CL"][0, p], d["pk_V"][0, p], d["weight_kg"][p])
            # float32 storage (6e-8 relative) of states the exact solver gives to ~1e-12.
            np.testing.assert_allclose(d["occupancy"][0, p], expected, rtol=1e-6, atol=1e-9)
            # And not the total-concentration occupancy (the bug the audit planted).
            total = occupancy(times_h, d["pk_CL"][0, p], d["pk_V"][0, p], d["weight_kg"][p], fu=1.0)
            self.assertFalse(np.allclose(d["occupancy"][0, p][1:], total[1:], rtol=1e-3))

    def test_expected_score_follows_the_exact_state_integral(self):
        """`madrs_expected` (noise-free, before rounding) against the quadrature of P; the bound is
        the grid-integration error of the engine derived in the module header (< MARGIN points)."""
        d = self.d
        times_h = d["visit"] * 24.0
        for p in range(d["madrs_expected"].shape[1]):
            b = float(d["baseline_madrs"][0, p])
            mu = mean_score(b, times_h, d["pk_CL"][0, p], d["pk_V"][0, p], d["weight_kg"][p], fu=FU)
            np.testing.assert_allclose(d["madrs_expected"][0, p], mu, atol=MARGIN, err_msg=f"patient {p}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
