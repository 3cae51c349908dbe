#!/usr/bin/python3
"""The data path reads top to bottom (issue 9: no include from a lower layer to a higher one).

Layers, lowest first: core; pk; population; response and io (independent of each other); trial;
calibration; cli. A source or header of one layer may include only its own layer and lower ones.
On main at 0900520 population/cohort.hpp included trial/config.hpp; this test fails there.

Environment (set by ctest): KETASIM_SOURCE_DIR.
"""
import os
import re
import unittest

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RANK = {"core": 0, "pk": 1, "population": 2, "response": 3, "io": 3, "trial": 4, "calibration": 5, "cli": 6}


class Layering(unittest.TestCase):
    def test_no_upward_include(self):
        bad = []
        for top in ("src", os.path.join("include", "ketasim")):
            for layer in RANK:
                folder = os.path.join(SOURCE_DIR, top, layer)
                if not os.path.isdir(folder):
                    continue
                for name in sorted(os.listdir(folder)):
                    with open(os.path.join(folder, name), encoding="utf-8") as f:
                        for target in re.findall(r'#include "ketasim/(\w+)/', f.read()):
                            if target not in RANK:
                                continue
                            same_rank_other = RANK[target] == RANK[layer] and target != layer
                            if RANK[target] > RANK[layer] or same_rank_other:
                                bad.append(f"{top}/{layer}/{name} includes {target}/")
        self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
