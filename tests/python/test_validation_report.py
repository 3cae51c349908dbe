"""Smoke test of tools/validation_report.py on the tiny test calibration: runs the targets through
the real binary with few patients, writes the report and figures to a temporary folder."""
import os
import subprocess
import sys
import tempfile

SOURCE = os.environ.get("KETASIM_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXE = os.environ.get("KETASIM_EXE", os.path.join(SOURCE, "build", "ketasim"))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "validation.md")
        figures = os.path.join(tmp, "figures")
        cmd = [sys.executable, os.path.join(SOURCE, "tools", "validation_report.py"),
               "--calibration", os.path.join(SOURCE, "tests", "data", "calibration", "tiny.yaml"),
               "--model", os.path.join(SOURCE, "models", "response", "initial.yaml"),
               "--patients", "40", "--seed", "3", "--out", out, "--figures", figures,
               "--sensitivity-patients", "0", "--exe", EXE]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=SOURCE, timeout=120)
        assert r.returncode == 0, r.stderr
        text = open(out).read()
        for name in ["ketamine_response_1d", "ketamine_change_7d", "ketamine_remission_3d", "saline_change_1d"]:
            assert f"| {name} |" in text, name
        assert "targets met" in text
        assert "## Structural assumptions" in text
        png = os.path.join(figures, "validation_study.png")
        assert os.path.isfile(png) and 1000 < os.path.getsize(png) < 300_000, png
    print("ok")


if __name__ == "__main__":
    main()
