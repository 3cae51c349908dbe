"""Power from replicate trials, recomputed independently from the results file.

docs/config.md: replicate r compares patients [2rn, 2rn + n) of the first arm with patients
[(2r+1)n, (2r+2)n) of the other arm; a replicate is significant when the Newcombe (1998, method 10)
95% CI of the rate difference excludes 0. The printed power must equal this count exactly.
"""
import math
import os
import re
import subprocess
import tempfile
import unittest

import h5py

Z = 1.959963984540054


def wilson(x, n):
    p = x / n
    d = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / d
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / d
    return centre - half, centre + half


def newcombe(x1, n1, x2, n2):
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


class PowerTest(unittest.TestCase):
    def test_printed_power_matches_an_independent_count(self):
        exe = os.environ["KETASIM_EXE"]
        config = os.path.join(os.environ["KETASIM_SOURCE_DIR"], "tests", "data", "power", "placebo-contrast.yaml")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "power.h5")
            run = subprocess.run([exe, "run", config, "--quiet", "-o", out], capture_output=True, text=True)
            self.assertEqual(run.returncode, 0, run.stderr)
            with h5py.File(out) as f:
                status = f["status"][...]
                flags = {"remission": f["remission"][...], "response": f["response"][...]}
        replicates, n = 100, 30  # from the config's endpoints.power
        self.assertTrue((status == 0).all())
        for endpoint, flag in flags.items():
            significant = 0
            for r in range(replicates):
                a = int(flag[0, 2 * r * n:(2 * r + 1) * n].sum())
                b = int(flag[1, (2 * r + 1) * n:(2 * r + 2) * n].sum())
                lo, hi = newcombe(a, n, b, n)
                significant += lo > 0 or hi < 0
            printed = re.search(r"power .*\(" + endpoint + r", .*\): ([0-9.]+)%", run.stdout)
            self.assertIsNotNone(printed, run.stdout)
            self.assertAlmostEqual(float(printed.group(1)), 100.0 * significant / replicates, places=6,
                                   msg=endpoint + "\n" + run.stdout)


if __name__ == "__main__":
    unittest.main()
