#!/usr/bin/python3
"""Command-line problems in the project's own words (issue 9), through the binary.

On main at 0900520: `--patients 0` gave CLI11's "arguments were not expected", `--seed -1` printed a
300-digit range, `pk --arm nope` did not list the arms, a seed above 2^64 - 1 was clamped, an
intranasal dose mismatch printed "28.000000 mg". Each case below fails there.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import unittest

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
DEFAULT = os.path.join(SOURCE_DIR, "configs", "default.yaml")


def ketasim(*args):
    return subprocess.run([KETASIM_EXE, *args], capture_output=True, text=True, timeout=60)


class CliMessages(unittest.TestCase):
    def assert_input_error(self, proc, *fragments):
        self.assertEqual(proc.returncode, 1, proc.stderr)
        for fragment in fragments:
            self.assertIn(fragment, proc.stderr)
        self.assertLess(len(proc.stderr), 400, "one short message, not a dump")

    def test_config_without_arms(self):
        # fuzz_config found this: a missing `arms` key crashed the event-data peek (exit 2,
        # "invalid node") instead of the parser's own message.
        import re
        import tempfile
        with open(DEFAULT, encoding="utf-8") as f:
            text = re.sub(r"^arms:\n(?:[ #].*\n|\n)*", "", f.read(), flags=re.M)
        self.assertNotIn("\narms:", text)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=os.path.dirname(DEFAULT), delete=False) as f:
            f.write(text)
        try:
            for command in ("check", "run"):
                proc = ketasim(command, f.name)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn("key 'arms': required key is missing", proc.stderr)
        finally:
            os.remove(f.name)

    def test_patients_zero(self):
        self.assert_input_error(ketasim("run", DEFAULT, "--patients", "0"), "--patients", "from 1 to", "found '0'")

    def test_seed_negative_and_too_large(self):
        self.assert_input_error(ketasim("run", DEFAULT, "--seed", "-1"), "--seed", "0 to 9223372036854775807")
        self.assert_input_error(ketasim("run", DEFAULT, "--seed", "9223372036854775808"), "--seed",
                                "found '9223372036854775808'")
        self.assert_input_error(ketasim("check", DEFAULT, "--set", "study.seed=18446744073709551616"), "study.seed")

    def test_largest_seed_is_accepted(self):
        proc = ketasim("check", DEFAULT, "--set", "study.seed=9223372036854775807")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("seed 9223372036854775807", proc.stdout)

    def test_threads(self):
        self.assert_input_error(ketasim("run", DEFAULT, "--threads", "0"), "--threads")

    def test_pk_unknown_arm_lists_the_arms(self):
        self.assert_input_error(ketasim("pk", DEFAULT, "--arm", "nope"), "no arm named 'nope'", "iv_ketamine",
                                "intranasal_esketamine")

    def test_numbers_in_messages_are_short(self):
        proc = ketasim("check", DEFAULT, "--set", "arms.1.regimen.dose=70 mg")
        self.assert_input_error(proc, "28 mg")
        self.assertNotIn("28.000000", proc.stderr)

    def test_schema_is_json(self):
        proc = ketasim("schema")
        self.assertEqual(proc.returncode, 0)
        self.assertTrue(proc.stdout.lstrip().startswith("["))


if __name__ == "__main__":
    unittest.main()
