#!/usr/bin/python3
"""What the results file records about its own run (issue 9), checked against independent sources:

* provenance: `input_file` lists the config, every PK model, the response model (and population
  file), each with its verbatim text and a SHA-256 that hashlib recomputes from the file on disk;
* config_json: every setting with its default filled in (keys the config file never wrote);
* dose records: `dose_amount_mg` is 0.5 mg/kg x the patient's stored weight when taken, 0 when
  missed, and the attended fraction matches the configured adherence (binomial, 5 SE);
* power: `power_remission` equals a re-computation from the file's own remission flags with an
  independent Newcombe (method 10) interval written here from Newcombe 1998.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import hashlib
import json
import math
import os
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
STUDY = os.path.join(SOURCE_DIR, "tests", "golden", "trial-small.yaml")
Z = 1.959963984540054


def wilson(x, n):
    p = x / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return centre - half, centre + half


def newcombe(x1, n1, x2, n2):
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1)
    l2, u2 = wilson(x2, n2)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


class Provenance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_provenance_")
        cls.path = os.path.join(cls.tmp.name, "g.h5")
        subprocess.run([KETASIM_EXE, "run", STUDY, "-o", cls.path, "--quiet"], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_git_commit_is_the_source_the_binary_was_built_from(self):
        # The commit used to be read only at CMake configure time, so a build after a new commit
        # kept naming the old one. It is now written at every build (tools/write_version.cmake),
        # with "-dirty" when tracked files differ from the commit.
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=SOURCE_DIR, capture_output=True, text=True)
        if head.returncode != 0:
            self.skipTest("not a git checkout")
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=SOURCE_DIR,
                                 capture_output=True, text=True, check=True).stdout.strip()
        expected = head.stdout.strip() + ("-dirty" if changes else "")
        with h5py.File(self.path, "r") as f:
            self.assertEqual(f.attrs["git_commit"], expected)
        version = subprocess.run([KETASIM_EXE, "--version"], capture_output=True, text=True, check=True).stdout
        self.assertIn(f"({expected})", version)

    def test_input_files_text_and_sha256(self):
        with h5py.File(self.path, "r") as f:
            paths = list(f["input_file"].asstr()[...])
            roles = list(f["input_role"].asstr()[...])
            digests = list(f["input_sha256"].asstr()[...])
            texts = list(f["input_text"].asstr()[...])
        self.assertEqual(sorted(set(roles)), ["config", "pk_model", "response_model"])
        self.assertEqual(roles.count("pk_model"), 2)  # Herd (IV and saline arms) and Perez-Ruixo, once each
        for path, digest, text in zip(paths, digests, texts):
            with open(path, "rb") as fh:
                data = fh.read()
            self.assertEqual(digest, hashlib.sha256(data).hexdigest(), path)
            self.assertEqual(text, data.decode("utf-8"), path)

    def test_config_json_fills_in_defaults(self):
        with h5py.File(self.path, "r") as f:
            cfg = json.loads(f.attrs["config_json"])
        # Never written in trial-small.yaml: the defaults of docs/config.md.
        self.assertEqual(cfg["endpoints"]["response_fraction"], 0.5)
        self.assertEqual(cfg["endpoints"]["relapse"], {"threshold": 22.0, "consecutive_visits": 2})
        self.assertEqual(cfg["solver"]["method"], "auto")
        self.assertEqual(cfg["cohort"]["weight_kg"], {"mean": 80.0, "sd": 15.0, "min": 45.0, "max": 150.0})
        self.assertEqual(cfg["arms"][1]["regimen"]["devices"], 3)
        self.assertEqual(cfg["arms"][1]["regimen"]["device_dose"], "28 mg")
        self.assertEqual(cfg["study"]["seed"], 424242)
        self.assertEqual(cfg["response_model"]["structure"], "benefit_v2")  # the shipped default since 2026-12-03
        self.assertIn("placebo.saline.max_typical", cfg["response_model"]["parameters"])
        self.assertEqual(cfg["sweep"]["grid"][0]["key"], "regimen.dose")

    def test_dose_records(self):
        with h5py.File(self.path, "r") as f:
            weight = f["weight_kg"][...]
            amount = f["dose_amount_mg"][0, 0]   # dose 0.5 mg/kg point, iv_ketamine arm
            taken = f["dose_taken"][0, 0]
            times = f["dose_time_h"][0, 0, 0]
        sessions = ~np.isnan(times)
        self.assertEqual(int(sessions.sum()), 6)  # 4 twice weekly + days 14 and 21
        np.testing.assert_array_equal(times[sessions], [0, 84, 168, 252, 336, 504])
        t = taken[:, sessions]
        self.assertTrue(np.isin(t, [0, 1]).all())
        np.testing.assert_allclose(amount[:, sessions][t == 1], (0.5 * weight[:, None] * np.ones_like(t))[t == 1], rtol=1e-12)
        self.assertTrue((amount[:, sessions][t == 0] == 0).all())
        n = t.size
        self.assertLess(abs(t.mean() - 0.85), 5 * math.sqrt(0.85 * 0.15 / n))
        self.assertTrue((taken[:, ~sessions] == -1).all())

    def test_power_from_the_files_own_flags(self):
        with h5py.File(self.path, "r") as f:
            remission = f["remission"][...]
            status = f["status"][...]
            power = f["power_remission"][...]
        reps, n = 4, 30
        for point in range(remission.shape[0]):
            self.assertTrue(np.isnan(power[point, 0]))
            for arm in (1, 2):
                significant = 0
                for r in range(reps):
                    a = slice(2 * r * n, 2 * r * n + n)
                    b = slice((2 * r + 1) * n, (2 * r + 2) * n)
                    ok0, ok1 = status[point, 0, a] == 0, status[point, arm, b] == 0
                    lo, hi = newcombe(int(remission[point, 0, a][ok0].sum()), int(ok0.sum()),
                                      int(remission[point, arm, b][ok1].sum()), int(ok1.sum()))
                    significant += lo > 0 or hi < 0
                self.assertEqual(power[point, arm], significant / reps, f"point {point} arm {arm}")
        self.assertGreater(np.nansum(power), 0)  # saline vs ketamine is significant somewhere


if __name__ == "__main__":
    unittest.main()
