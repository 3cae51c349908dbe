#!/usr/bin/python3
"""One run split across MPI ranks (issue 12; docs/scaling.md, src/core/ranks.cpp).

With an MPI build (`tools/setup.sh --mpi`: build-mpi/, -DKETASIM_MPI=ON) and Open MPI's mpirun:
- datasets are bit-identical to the serial run for K = 1, 2, 3 ranks and 1 or 2 threads per rank,
  on several studies (two arms with full concentrations, a 16-point sweep, a randomized
  withdrawal) and at cohort sizes around the batch boundary (1 patient, a whole batch, one more,
  two batches and one more); also when the ranks split the sweep points of too few batches
  (including a sweep over the cohort's distributions); the only root attributes that differ are
  `created` and `command_line` (the same rule as tests/trial/test_determinism.cpp);
- a rank killed mid-run (rank 1 or the writer, rank 0) and a cancelled job (SIGTERM to mpirun, what
  scancel does) leave no file at the output path and exit non-zero; after rank 1 dies, rank 0 removes
  its temporary file too, and after rank 0 dies the next run to that path removes what it left;
- bad input is reported once, with a non-zero exit and no file, whichever rank sees it first; ranks
  that loaded different studies (another seed, file or model on one machine) refuse to start;
- commands other than `run` refuse to run as several ranks.

With the default (serial) build, only the last check applies: started by mpirun as one of several
processes it refuses (each process would otherwise run the whole study); the MPI checks skip.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from mpi_launch import mpi_environment

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")
SERIAL_EXE = os.path.join(SOURCE_DIR, "build", "ketasim")
TWO_ARMS = os.path.join(SOURCE_DIR, "tests", "data", "engine", "two-arms.yaml")  # batches of 16
SWEEP = os.path.join(SOURCE_DIR, "configs", "sweep.yaml")
SWEEP_COHORT = os.path.join(SOURCE_DIR, "configs", "sweep-cohort.yaml")  # 3 points, covariates per point
# 6 points (a dose of one arm x the cohort's weight), 2 arms, 5 outputs, covariates per point
TWO_ARMS_SWEEP = os.path.join(SOURCE_DIR, "tests", "data", "engine", "two-arms-sweep.yaml")
WITHDRAWAL = os.path.join(SOURCE_DIR, "configs", "sustain1-withdrawal.yaml")
ALLOWED_ROOT_DIFFERENCES = {"created", "command_line"}


def version(exe):
    return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout


def mpirun(ranks, *args, timeout=600):
    return subprocess.run(["mpirun", "-n", str(ranks), "--oversubscribe", KETASIM_EXE, *args], capture_output=True,
                          text=True, timeout=timeout, env=mpi_environment())


def h5diff_datasets(a, b):
    return subprocess.run(["h5diff", "--exclude-attribute", "/", a, b], capture_output=True, text=True, timeout=600)


def differing_root_attributes(a, b):
    """Root attributes whose values differ, parsed from `h5diff -v` as the determinism test does."""
    out = subprocess.run(["h5diff", "-v", a, b], capture_output=True, text=True, timeout=600).stdout
    differing, current = set(), None
    for line in out.splitlines():
        m = re.match(r"^attribute: <(\S+) of </>>", line)
        if m:
            current = m.group(1)
            continue
        if line.startswith("dataset:") or line.startswith("group"):
            current = None
            continue
        m = re.match(r"^(\d+) differences? found", line)
        if m and current and int(m.group(1)) > 0:
            differing.add(current)
    return differing


def rank_pids(output):
    """{rank: pid} of the ketasim processes writing `output`, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if not cmdline or not cmdline[0].endswith(b"ketasim") or output.encode() not in cmdline:
            continue
        for var in environ:
            if var.startswith(b"OMPI_COMM_WORLD_RANK="):
                found[int(var.split(b"=", 1)[1])] = int(entry)
    return found


class SerialBuildUnderLauncher(unittest.TestCase):
    def test_serial_build_refuses_to_run_as_one_of_several(self):
        if "with MPI" in version(KETASIM_EXE):
            self.skipTest("an MPI build joins the launcher instead (checked below)")
        work = tempfile.mkdtemp(prefix="ketasim_mpi_serial_")
        self.addCleanup(shutil.rmtree, work, True)
        out = os.path.join(work, "x.h5")
        env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK="1")
        r = subprocess.run([KETASIM_EXE, "run", TWO_ARMS, "-o", out, "--quiet"], capture_output=True, text=True,
                           timeout=120, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("built without MPI", r.stderr)
        self.assertIn("-DKETASIM_MPI=ON", r.stderr)
        self.assertEqual(os.listdir(work), [])


@unittest.skipUnless("with MPI" in version(KETASIM_EXE), "not an MPI build (tools/setup.sh --mpi builds build-mpi/)")
class MpiRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("mpirun") is None:
            raise AssertionError("an MPI build without mpirun on PATH (Debian: openmpi-bin)")
        cls.work = tempfile.mkdtemp(prefix="ketasim_mpi_")
        # The reference: the default serial build when it is there (CI builds it first), else this
        # binary started on its own (no launcher: no MPI at all).
        cls.serial = SERIAL_EXE if os.path.exists(SERIAL_EXE) and "with MPI" not in version(SERIAL_EXE) else KETASIM_EXE

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, True)

    def reference(self, name, config, *args):
        path = os.path.join(self.work, name + "-serial.h5")
        if not os.path.exists(path):
            r = subprocess.run([self.serial, "run", config, "-o", path, "--quiet", "--threads", "2", *args],
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
        return path

    def assert_same_as_serial(self, name, config, ranks, threads, *args):
        reference = self.reference(name, config, *args)
        path = os.path.join(self.work, f"{name}-k{ranks}-t{threads}.h5")
        r = mpirun(ranks, "run", config, "-o", path, "--quiet", "--threads", str(threads), *args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        d = h5diff_datasets(reference, path)
        self.assertEqual(d.returncode, 0, f"{name} K={ranks} threads={threads}:\n{d.stdout}{d.stderr}")
        self.assertLessEqual(differing_root_attributes(reference, path), ALLOWED_ROOT_DIFFERENCES)
        return r

    def test_bit_identical_for_any_rank_and_thread_count(self):
        for ranks in (1, 2, 3):
            for threads in (1, 2):
                with self.subTest(ranks=ranks, threads=threads):
                    self.assert_same_as_serial("two-arms", TWO_ARMS, ranks, threads)

    def test_bit_identical_sweep_and_withdrawal(self):
        for ranks in (2, 3):
            with self.subTest(study="sweep", ranks=ranks):
                self.assert_same_as_serial("sweep", SWEEP, ranks, 1, "--patients", "200", "--set", "outputs.batch_patients=32")
            with self.subTest(study="withdrawal", ranks=ranks):
                self.assert_same_as_serial("withdrawal", WITHDRAWAL, ranks, 1, "--patients", "300", "--set",
                                           "outputs.batch_patients=64")

    def test_bit_identical_around_the_batch_boundary(self):
        # two-arms.yaml has batches of 16: one patient, one whole batch, one more, two and one more.
        for patients in (1, 16, 17, 33):
            for ranks in (2, 3):
                with self.subTest(patients=patients, ranks=ranks):
                    self.assert_same_as_serial(f"two-arms-{patients}", TWO_ARMS, ranks, 1, "--patients", str(patients))
        # Fewer batches than ranks: the idle ranks are named.
        r = mpirun(3, "run", TWO_ARMS, "-o", os.path.join(self.work, "idle.h5"), "--patients", "16")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 patient batches for 3 ranks: ranks 1-2 had nothing to do", r.stderr)

    def test_bit_identical_split_by_sweep_points(self):
        # Fewer batches than ranks and several sweep points: each rank computes some points of every
        # batch and rank 0 joins them (engine.cpp, work_split). One batch, and two batches for three
        # ranks; with full concentrations, which rank 0 then compresses; and two arms with a sweep that
        # includes the cohort's distributions, whose covariates are per point (4 ranks: 6 points
        # split 1, 2, 1, 2).
        for patients in ("1", "40", "300"):
            for ranks in (2, 3):
                with self.subTest(study="sweep", patients=patients, ranks=ranks):
                    r = self.assert_same_as_serial(f"sweep-{patients}", SWEEP, ranks, 2, "--patients", patients,
                                                   "--set", "outputs.concentration=full")
                    self.assertNotIn("had nothing to do", r.stderr)
        for ranks in (2, 3, 4):
            with self.subTest(study="two-arms-sweep", ranks=ranks):
                self.assert_same_as_serial("two-arms-sweep", TWO_ARMS_SWEEP, ranks, 1, "--patients", "20")
        # Three points for four ranks: the fourth has none, and is named.
        r = mpirun(4, "run", SWEEP_COHORT, "-o", os.path.join(self.work, "idle-points.h5"), "--patients", "40")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 patient batches split by sweep point for 4 ranks: rank 3 had nothing to do", r.stderr)

    def start_long_run(self, name):
        """A run of ~100 s at K = 2; returns (process, output path) once rank 0 has its temporary file."""
        out = os.path.join(self.work, name + ".h5")
        process = subprocess.Popen(["mpirun", "-n", "2", "--oversubscribe", KETASIM_EXE, "run", TWO_ARMS, "--patients",
                                    "100000", "--threads", "1", "-o", out], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=mpi_environment())
        self.addCleanup(lambda: process.poll() is None and process.kill())
        deadline = time.time() + 60
        while time.time() < deadline and not any(f.startswith(name + ".h5.tmp.") for f in os.listdir(self.work)):
            time.sleep(0.05)
        time.sleep(1.0)  # well into the batches
        pids = rank_pids(out)
        self.assertEqual(sorted(pids), [0, 1], "both ranks running")
        return process, out, pids

    def leftovers(self, name):
        return sorted(f for f in os.listdir(self.work) if f.startswith(name + ".h5"))

    def test_killed_worker_rank_leaves_no_file(self):
        process, out, pids = self.start_long_run("kill1")
        os.kill(pids[1], signal.SIGKILL)
        _, stderr = process.communicate(timeout=120)
        self.assertNotEqual(process.returncode, 0)
        self.assertFalse(os.path.exists(out))
        # mpirun tells rank 0 to stop (SIGTERM); it unwinds and removes its temporary file.
        self.assertEqual(self.leftovers("kill1"), [], stderr)
        self.assertIn("interrupted by SIGTERM", stderr)

    def test_killed_writer_rank_leaves_no_file(self):
        process, out, pids = self.start_long_run("kill0")
        os.kill(pids[0], signal.SIGKILL)
        process.communicate(timeout=120)
        self.assertNotEqual(process.returncode, 0)
        self.assertFalse(os.path.exists(out))
        # SIGKILL leaves rank 0 no chance to tidy up: its temporary file stays beside the output
        # (never at it) until the next run to that path, which removes it since its process is gone.
        self.assertTrue(all(".h5.tmp." in f for f in self.leftovers("kill0")))
        r = mpirun(2, "run", TWO_ARMS, "--patients", "20", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("left by a run that no longer exists", r.stderr)
        self.assertEqual(self.leftovers("kill0"), ["kill0.h5"])

    def test_cancelled_job_leaves_no_file(self):
        process, out, _ = self.start_long_run("cancel")
        process.send_signal(signal.SIGTERM)  # what scancel does to the job step
        process.communicate(timeout=120)
        self.assertNotEqual(process.returncode, 0)
        self.assertEqual(self.leftovers("cancel"), [])

    def test_bad_input_is_reported_once(self):
        out = os.path.join(self.work, "bad.h5")
        r = mpirun(3, "run", TWO_ARMS, "-o", out, "--set", "cohort.patients=zero", timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.count("ketasim: error:"), 1, r.stderr)
        self.assertIn("cohort.patients", r.stderr)
        r = mpirun(2, "run", TWO_ARMS, "-o", os.path.join(self.work, "no-such-folder", "x.h5"), timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("the output folder", r.stderr)
        self.assertFalse(os.path.exists(out))

    def test_ranks_with_different_studies_refuse(self):
        # MPMD launch: rank 1 gets another seed, as if its machine had another config file. Without
        # the check it would silently write a file mixing two studies.
        out = os.path.join(self.work, "mixed.h5")
        common = ["run", TWO_ARMS, "-o", out, "--quiet"]
        r = subprocess.run(["mpirun", "--oversubscribe", "-n", "1", KETASIM_EXE, *common, ":", "-n", "1", KETASIM_EXE,
                            *common, "--seed", "99"], capture_output=True, text=True, timeout=120, env=mpi_environment())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.count("rank 1 loaded a different study from rank 0"), 1, r.stderr)
        self.assertFalse(os.path.exists(out))

    def test_other_commands_refuse_several_ranks(self):
        r = mpirun(2, "check", TWO_ARMS, timeout=120)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.count("only `run` splits its work across ranks"), 1, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
