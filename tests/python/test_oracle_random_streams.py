#!/usr/bin/python3
"""Random streams through the binary and the results file (issue 16, item 3).

* Dropout is independent of the visit noise (tests/data/oracles/dropout-noise.yaml): with no drug,
  no placebo and no rater error, MADRS - baseline is the Ornstein-Uhlenbeck path, so each visit's
  standardised innovation e_w = (X_w - X_{w-1} d) / (sd sqrt(1 - d^2)), d = exp(-theta gap), can be
  recovered. For each later visit v, patients who leave at v and those who stay must not differ in
  e_w or e_w^2 at any earlier visit w (Welch t, |t| < 5). Dropout drawn from the visit-noise
  stream shares its uniforms with the Box-Muller pairs and shifts E[e^2] by a factor of ~4.
  The dropout rate itself is checked against 1 - exp(-rate gap / 7 d).
* Determinism with one patient per batch at 1, 4 and 16 threads (tests/data/oracles/closed-form.yaml,
  full concentrations): every dataset must be bit-identical. With 400 one-patient batches the
  pipeline finishes batches out of order all the time, so a writer (or a summary sum) that
  follows completion order instead of patient order changes the files on every run, not 1 in 16.
(Adherence per session is checked in test_oracle_pk_endpoints.py, where the doses are visible.)
"""
import math
import os
import sys
import tempfile
import unittest

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracles  # noqa: E402

OU_SD, OU_HALF_LIFE_D, RATE_PER_WEEK = 4.0, 7.0, 0.5   # response-ou.yaml, dropout-noise.yaml
T_LIMIT = 5.0  # a true null exceeds |t| = 5 with probability 6e-7 per comparison (30 comparisons)


def welch_t(a, b):
    return (a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


class RandomStreamOracleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_oracle_rng_")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_dropout_is_independent_of_visit_noise(self):
        path = os.path.join(self.tmp.name, "dropout.h5")
        oracles.run("dropout-noise.yaml", path)
        with h5py.File(path, "r") as f:
            y = f["madrs"][0].astype(float)
            b = f["baseline_madrs"][0].astype(float)
            visits = f["visit"][...]
        x = y - b[:, None]                      # OU path (+ rounding, SD 0.29)
        present = ~np.isnan(y)
        theta = math.log(2.0) / OU_HALF_LIFE_D
        n_visits = len(visits)
        innov = np.full_like(x, np.nan)
        for w in range(1, n_visits):
            d = math.exp(-theta * (visits[w] - visits[w - 1]))
            innov[:, w] = (x[:, w] - x[:, w - 1] * d) / (OU_SD * math.sqrt(1.0 - d * d))
        # Sanity: the recovered innovations are standard normal (rounding adds ~2% variance).
        e1 = innov[present[:, 1], 1]
        self.assertLess(abs(e1.mean()), 5 / math.sqrt(e1.size))
        self.assertLess(abs(e1.var() - 1.0), 0.1)
        worst = 0.0
        for v in range(2, n_visits):
            at_risk = present[:, v - 1]
            left = at_risk & ~present[:, v]
            stayed = at_risk & present[:, v]
            # The hazard: P(leave | in study) = 1 - exp(-rate gap / 7 d).
            p = -math.expm1(-RATE_PER_WEEK * (visits[v] - visits[v - 1]) / 7.0)
            n = int(at_risk.sum())
            self.assertLess(abs(left.sum() / n - p), 5 * math.sqrt(p * (1 - p) / n), f"visit {visits[v]} d")
            for w in range(1, v):
                for label, f in (("e", lambda e: e), ("e^2", lambda e: e * e)):
                    t = welch_t(f(innov[left, w]), f(innov[stayed, w]))
                    worst = max(worst, abs(t))
                    self.assertLess(abs(t), T_LIMIT,
                                    f"leaving at day {visits[v]:g} vs {label} of the noise at day {visits[w]:g}: t = {t:.1f}")
        print(f"largest |t| {worst:.2f}", file=sys.stderr)

    def test_one_patient_batches_are_bit_identical_at_any_thread_count(self):
        files = []
        for threads in (1, 4, 16):
            path = os.path.join(self.tmp.name, f"batch1-t{threads}.h5")
            oracles.run("closed-form.yaml", path, "--set", "outputs.batch_patients=1", threads=threads)
            files.append(path)
        with h5py.File(files[0], "r") as ref:
            names = [n for n in ref if isinstance(ref[n], h5py.Dataset)]
            self.assertIn("conc_ketamine_mean", names)
            for other in files[1:]:
                with h5py.File(other, "r") as f:
                    self.assertEqual(sorted(names), sorted(n for n in f if isinstance(f[n], h5py.Dataset)))
                    for n in names:
                        a, c = ref[n][...], f[n][...]
                        self.assertEqual(a.dtype, c.dtype, n)
                        if a.dtype == object:  # variable-length strings (labels)
                            self.assertEqual(a.tolist(), c.tolist(), n)
                            continue
                        # Bytes, not values: NaN == NaN and -0.0 != 0.0, i.e. bit-identical.
                        self.assertEqual(a.tobytes(), c.tobytes(), f"{n} differs between {files[0]} and {other}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
