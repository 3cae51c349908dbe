#!/usr/bin/python3
"""Golden snapshot (issue 9): the small whole trial of tests/golden/trial-small.yaml must reproduce
tests/golden/trial-small.json dataset for dataset (tools/golden.py explains what is compared and
how to regenerate it, with a reason, when a change is intended).

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import sys
import unittest

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Golden(unittest.TestCase):
    def test_snapshot_unchanged(self):
        proc = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "golden.py"), "check"],
                              capture_output=True, text=True, timeout=600)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
