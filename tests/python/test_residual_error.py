#!/usr/bin/python3
"""Residual (observation) error of simulated DV (issue 13 item 3; docs/model-format.md).

tests/data/residual/study.yaml: 2000 patients, one infusion, 7 sampling times in the first day.
Arm a's model: additive 5 ng/mL on S-ketamine, proportional 20% on R-ketamine, combined 2 ng/mL +
10% on the total; arm b's model: log-additive 0.276 on the total. Each error is undone with its own
closed form to give the standardized draws eps = (DV - IPRED) / sd(IPRED) (log-additive:
log(DV / IPRED) / 0.276), which must be N(0, 1):
- SD of eps within 0.03 of 1: with n = 14000 draws the standard error of a sample SD is
  1/sqrt(2n) = 0.006, so 0.03 is 5 standard errors (false alarm ~1e-6) and still catches a 3%
  error in the SD (e.g. the combined error summed as a + p x IPRED instead of in quadrature is far
  off: +40% at 20 ng/mL);
- mean within 4/sqrt(n) = 0.034 of 0;
- eps of the total is the same draw in arms a and b (common random numbers: the stream is keyed
  by patient, output and time, never by arm) to 1e-9;
- the draws are exactly the stream docs/model-format.md names: an independent pure-Python
  Philox4x64-10 (checked here against Random123's known-answer vector for counter 0, key 0) keyed
  by (seed, stream 9), counter (patient, block), Box-Muller in RandomStream's order, one normal per
  (output slot, sampling time), reproduces eps of the first patients to 1e-9 (the only error is
  the subtraction DV - IPRED, ~1e-14);
- same seed: bit-identical DV at 1 and 2 threads; another seed: different DV.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import tempfile
import unittest

import math

import h5py
import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
STUDY = os.path.join(SOURCE_DIR, "tests", "data", "residual", "study.yaml")


MASK = (1 << 64) - 1


def philox4x64_10(counter, key):
    """Random123's Philox4x64-10 (Salmon et al. 2011), written from the published round function."""
    c, k = list(counter), list(key)
    for r in range(10):
        if r:
            k = [(k[0] + 0x9E3779B97F4A7C15) & MASK, (k[1] + 0xBB67AE8584CAA73B) & MASK]
        p0, p1 = 0xD2E7470EE14C6C93 * c[0], 0xCA5A826395121157 * c[2]
        c = [(p1 >> 64) ^ c[1] ^ k[0], p1 & MASK, (p0 >> 64) ^ c[3] ^ k[1], p0 & MASK]
    return c


def stream_normals(seed, stream, patient, n):
    """RandomStream::normal() n times: uniforms (top 53 bits + 1/2) / 2^53, Box-Muller cos then sin."""
    words, block, out = [], 0, []
    while len(out) < n:
        while len(words) < 2:
            words += philox4x64_10([patient, block, 0, 0], [seed, stream])
            block += 1
        u1, u2 = (((words.pop(0) >> 11) + 0.5) / 2.0 ** 53 for _ in range(2))
        radius, angle = math.sqrt(-2.0 * math.log(u1)), 2.0 * math.pi * u2
        out += [radius * math.cos(angle), radius * math.sin(angle)]
    return np.array(out[:n])


def run(out, *extra):
    proc = subprocess.run([KETASIM_EXE, "run", STUDY, "-o", out, "--quiet", *extra], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        raise AssertionError(proc.stderr)
    with h5py.File(out, "r") as f:
        return {n: f[n][...] for n in f if n.startswith(("dv_", "ipred_", "sample_time", "status"))}


class ResidualError(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_residual_")
        cls.r = run(os.path.join(cls.tmp.name, "a.h5"), "--threads", "1")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def standardized(self, arm, output, sd):
        ipred, dv = self.r[f"ipred_{output}"][arm], self.r[f"dv_{output}"][arm]
        ok = self.r["status"][arm] == 0
        ipred, dv = ipred[ok], dv[ok]
        self.assertGreater(ipred.size, 13000)
        self.assertGreater(np.median(ipred), 5.0)  # real concentrations, not zeros
        return ((dv - ipred) / sd(ipred)).ravel()

    def check_normal(self, eps):
        n = eps.size
        self.assertLess(abs(eps.std(ddof=1) - 1.0), 0.03, f"SD {eps.std(ddof=1):.4f} over {n}")
        self.assertLess(abs(eps.mean()), 4.0 / np.sqrt(n), f"mean {eps.mean():.4f} over {n}")

    def test_sampling_times_axis(self):
        np.testing.assert_allclose(self.r["sample_time"], [0.5, 1, 2, 4, 8, 12, 24], rtol=0, atol=1e-12)

    def test_additive(self):
        self.check_normal(self.standardized(0, "s_ketamine", lambda c: 5.0))

    def test_proportional(self):
        self.check_normal(self.standardized(0, "r_ketamine", lambda c: 0.2 * c))

    def test_combined(self):
        self.check_normal(self.standardized(0, "ketamine", lambda c: np.sqrt(2.0 ** 2 + (0.1 * c) ** 2)))

    def test_log_additive(self):
        ok = self.r["status"][1] == 0
        eps = (np.log(self.r["dv_ketamine"][1][ok] / self.r["ipred_ketamine"][1][ok]) / 0.276).ravel()
        self.check_normal(eps)

    def test_no_error_no_dv(self):
        # Arm b's model has no residual error on the enantiomers: IPRED is there, DV is NaN.
        self.assertTrue(np.isnan(self.r["dv_s_ketamine"][1]).all())
        self.assertFalse(np.isnan(self.r["ipred_s_ketamine"][1]).any())

    def test_same_draw_in_every_arm(self):
        combined = (self.r["dv_ketamine"][0] - self.r["ipred_ketamine"][0]) / np.sqrt(4.0 + (0.1 * self.r["ipred_ketamine"][0]) ** 2)
        log_additive = np.log(self.r["dv_ketamine"][1] / self.r["ipred_ketamine"][1]) / 0.276
        np.testing.assert_allclose(combined, log_additive, rtol=0, atol=1e-9)

    def test_draws_are_the_residual_error_stream(self):
        self.assertEqual(philox4x64_10([0, 0, 0, 0], [0, 0]),
                         [0x16554d9eca36314c, 0xdb20fe9d672d0fdc, 0xd7e772cee186176b, 0x7e68b68aec7ba23b])
        seed, stream, n_samples = 5, 9, 7  # study.yaml's seed; Stream::residual_error
        for patient in range(20):
            eps = stream_normals(seed, stream, patient, 3 * n_samples)  # slots: s_ketamine, r_ketamine, ketamine
            ipred, dv = self.r["ipred_s_ketamine"][0, patient], self.r["dv_s_ketamine"][0, patient]
            np.testing.assert_allclose((dv - ipred) / 5.0, eps[:n_samples], rtol=0, atol=1e-9)
            ipred, dv = self.r["ipred_r_ketamine"][0, patient], self.r["dv_r_ketamine"][0, patient]
            np.testing.assert_allclose((dv - ipred) / (0.2 * ipred), eps[n_samples:2 * n_samples], rtol=0, atol=1e-9)

    def test_reproducible_by_seed_and_thread_count(self):
        again = run(os.path.join(self.tmp.name, "b.h5"), "--threads", "2")
        for name, values in self.r.items():
            np.testing.assert_array_equal(values, again[name], err_msg=name)
        other = run(os.path.join(self.tmp.name, "c.h5"), "--seed", "6", "--patients", "50")
        ours = run(os.path.join(self.tmp.name, "d.h5"), "--patients", "50")
        self.assertFalse(np.array_equal(other["dv_s_ketamine"], ours["dv_s_ketamine"]))


if __name__ == "__main__":
    unittest.main()
