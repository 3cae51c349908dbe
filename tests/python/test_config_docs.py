#!/usr/bin/python3
"""docs/config.md cannot drift from the parser: every key accepted by a `check_keys({...})` call in
the config parsers (src/trial/config.cpp, src/pk/regimen.cpp, src/trial/sweep.cpp; read as source
text) must be documented as a key in a reference table of docs/config.md, and every key documented
there must be accepted by the parser. Reference rows are table rows whose first cell is a
backticked dotted path (`arms[].regimen.dose`); each component of the path counts.

Environment (set by ctest): KETASIM_SOURCE_DIR.
"""
import os
import re
import unittest

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PARSERS = ["src/trial/config.cpp", "src/pk/regimen.cpp", "src/trial/sweep.cpp", "src/population/cohort_config.cpp",
           "src/trial/optimize.cpp", "src/trial/withdrawal.cpp"]


def code_keys():
    keys = {}
    for rel in PARSERS:
        with open(os.path.join(SOURCE_DIR, rel), encoding="utf-8") as f:
            text = f.read()
        calls = re.findall(r"check_keys\(\{(.*?)\}\)", text, re.S)
        if not calls:
            raise AssertionError(f"no check_keys({{...}}) call found in {rel}: has the parser changed shape?")
        for call in calls:
            for key in re.findall(r'"([^"]+)"', call):
                keys.setdefault(key, rel)
    return keys


def documented_paths():
    with open(os.path.join(SOURCE_DIR, "docs", "config.md"), encoding="utf-8") as f:
        text = f.read()
    reference = text.split("## Reference", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Za-z0-9_.\[\]]+)` \|", reference, re.M)


def components(path):
    return [part.replace("[]", "") for part in path.split(".")]


class ConfigDocs(unittest.TestCase):
    def test_every_accepted_key_is_documented(self):
        documented = {c for p in documented_paths() for c in components(p)}
        missing = sorted(f"{k} ({src})" for k, src in code_keys().items() if k not in documented)
        self.assertEqual(missing, [], "keys accepted by the parser but not in docs/config.md")

    def test_every_documented_key_is_accepted(self):
        accepted = set(code_keys())
        paths = documented_paths()
        self.assertGreater(len(paths), 40)
        unknown = sorted({p for p in paths for c in components(p) if c not in accepted})
        self.assertEqual(unknown, [], "keys documented in docs/config.md that the parser does not accept")

    def test_shipped_configs_only_use_documented_top_level_keys(self):
        top = {components(p)[0] for p in documented_paths()}
        folder = os.path.join(SOURCE_DIR, "configs")
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".yaml"):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                keys = re.findall(r"^([A-Za-z_]+):", f.read(), re.M)
            self.assertTrue(set(keys) <= top, f"{name}: {sorted(set(keys) - top)}")


if __name__ == "__main__":
    unittest.main()
