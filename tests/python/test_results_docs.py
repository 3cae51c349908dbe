#!/usr/bin/python3
"""docs/results-format.md and the results schema agree both ways (issue 9: one results schema).

`ketasim schema` prints the table the writer uses (src/io/results_schema.cpp); every variable in it
must be in the docs' Variables table with the same dims and type, and every variable in the docs
must be in the schema. A real results file must hold only variables the schema names.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import json
import os
import re
import subprocess
import tempfile
import unittest

import h5py

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
DIMENSIONS = {"arm", "patient", "time", "visit", "dose", "input_file", "event_endpoint", "event_time", "sample_time",
              "withdrawal_group", "withdrawal_arm", "withdrawal_time", "parameter_draw", "response_parameter"}


def schema():
    out = subprocess.run([KETASIM_EXE, "schema"], capture_output=True, text=True, check=True).stdout
    return {e["name"]: e for e in json.loads(out)}


def documented():
    with open(os.path.join(SOURCE_DIR, "docs", "results-format.md"), encoding="utf-8") as f:
        text = f.read()
    table = text.split("## Variables", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| (\w+) \|", table, re.M)
    return {name: {"dims": [d.strip() for d in dims.split(",")], "dtype": dtype} for name, dims, dtype in rows}


def matches(template, name):
    pattern = "^" + re.escape(template).replace(r"\{output\}", r"\w+").replace(r"\{parameter\}", r"\w+") + "$"
    return re.match(pattern, name) is not None


class ResultsDocs(unittest.TestCase):
    def test_schema_and_docs_agree_both_ways(self):
        code, docs = schema(), documented()
        self.assertGreater(len(code), 25)
        self.assertEqual(sorted(set(code) - set(docs)), [], "in the schema but not in docs/results-format.md")
        self.assertEqual(sorted(set(docs) - set(code)), [], "in docs/results-format.md but not in the schema")
        for name, entry in code.items():
            self.assertEqual(docs[name]["dims"], entry["dims"], name)
            self.assertEqual(docs[name]["dtype"], entry["dtype"], name)

    def test_a_results_file_holds_only_schema_variables(self):
        # The golden trial enables every output but draws its cohort; the second study takes its
        # patients from an event data set (patient_id) and samples observations (ipred/dv); the
        # third is a randomized withdrawal (withdrawal_*) with parameter draws of its calibrated
        # response model (parameter_draw_*).
        code = schema()
        studies = [os.path.join(SOURCE_DIR, "tests", "golden", "trial-small.yaml"),
                   os.path.join(SOURCE_DIR, "tests", "data", "residual", "events.yaml"),
                   os.path.join(SOURCE_DIR, "configs", "sustain1-withdrawal.yaml")]
        owners = {}
        with tempfile.TemporaryDirectory() as tmp:
            for k, study in enumerate(studies):
                path = os.path.join(tmp, f"g{k}.h5")
                extra = (["--patients", "200", "--set", "endpoints.parameter_uncertainty={draws: 2}"]
                         if "withdrawal" in study else [])
                subprocess.run([KETASIM_EXE, "run", study, "-o", path, "--quiet", *extra], check=True)
                with h5py.File(path, "r") as f:
                    names = [n for n in f if n not in DIMENSIONS and n != "dose_mg_per_kg"]
                    for name in names:
                        self.assertTrue(any(matches(t, name) for t in code), f"{name} is not in the schema")
                    # Each file variable belongs to its most specific template (conc_x_mean is not conc_{output}).
                    owner = {n: max((t for t in code if matches(t, n)), key=len) for n in names}
                    for n, template in owner.items():
                        owners.setdefault(template, []).append(n)
                        dims = [d.lstrip("/") for d in (f[n].dims[i][0].name for i in range(f[n].ndim))]
                        expected = list(code[template]["dims"])
                        if "arm" in expected and "dose_mg_per_kg" in f:
                            expected.insert(expected.index("arm"), "dose_mg_per_kg")
                        self.assertEqual(dims, expected, n)
        for template in code:
            self.assertIn(template, owners, f"{template} missing from files that enable every output")


class PythonWriterFollowsTheSchema(unittest.TestCase):
    """tools/make_example_results.py (a second writer, for tool development) writes only variables
    of the one schema, with the schema's dims (sweep dims before arm) and units."""

    def test_example_file(self):
        import sys
        code = schema()
        with tempfile.TemporaryDirectory() as tmp:
            for extra in ([], ["--sweep"]):
                path = os.path.join(tmp, "example.h5")
                subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "make_example_results.py"), path, *extra],
                               check=True, capture_output=True)
                with h5py.File(path, "r") as f:
                    sweep = [n for n in ("dose_mg_per_kg", "interval_d") if n in f]
                    for name in f:
                        if name in DIMENSIONS or name in sweep:
                            continue
                        templates = [t for t in code if matches(t, name)]
                        self.assertTrue(templates, f"{name} is not in the schema")
                        entry = code[max(templates, key=len)]
                        dims = [f[name].dims[i][0].name.lstrip("/") for i in range(f[name].ndim)]
                        expected = list(entry["dims"])
                        if "arm" in expected:
                            expected[expected.index("arm"):expected.index("arm")] = sweep
                        self.assertEqual(dims, expected, name)
                        if "{" not in entry["units"]:
                            units = f[name].attrs["units"]
                            self.assertEqual(units.decode() if isinstance(units, bytes) else units, entry["units"], name)


if __name__ == "__main__":
    unittest.main()
