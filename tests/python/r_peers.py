"""Shared by the tests that run R peer tools (mrgsolve, deSolve) beside ketasim: a command runner
that fails with the command's output, and why R cannot load a package (None when it can)."""
import os
import shutil
import subprocess

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(cmd):
    proc = subprocess.run(cmd, cwd=SOURCE_DIR, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def r_package_missing(package):
    """None when Rscript can load `package`, else why not."""
    if shutil.which("Rscript") is None:
        return "Rscript is not installed"
    proc = subprocess.run(["Rscript", "-e", f"suppressPackageStartupMessages(library({package}))"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return f"R cannot load {package}: " + (proc.stderr.strip().splitlines() or ["?"])[0]
    return None
