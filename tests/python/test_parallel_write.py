#!/usr/bin/python3
"""The write-strategy measurement of docs/scaling.md (benchmarks/parallel_write/parallel_write.cpp).

Its figures choose how ranks write ketasim's results, so its files must hold what it says:
- for K = 1, 2, 3 ranks, with batches that do not divide the cohort (a short last chunk), the
  files written by the rank-0 writer, collective parallel HDF5 and per-rank files + a virtual
  dataset read back, through h5py (an independent reader), equal to the input dataset bit for bit;
- the program's own read-back check agrees (exit 0, "identical" on every line);
- the virtual dataset's main file is small and its data lives in the K rank files beside it.

Skips (with the reason) unless the MPI build made the program: tools/setup.sh --mpi, which installs
Debian's libhdf5-openmpi-dev. Environment (set by ctest): KETASIM_SOURCE_DIR.
"""
import os
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

from mpi_launch import mpi_environment

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERIAL_EXE = os.path.join(SOURCE_DIR, "build", "ketasim")
BENCH = os.path.join(SOURCE_DIR, "build-mpi", "benchmarks", "parallel_write", "parallel_write_bench")
P1 = os.path.join(SOURCE_DIR, "configs", "p1-benchmark.yaml")
PATIENTS, BATCH = 300, 64  # 5 batches, the last one 44 patients


@unittest.skipUnless(os.path.exists(BENCH), "no parallel_write_bench: build it with tools/setup.sh --mpi")
class ParallelWriteStrategies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.input = os.path.join(cls.tmp.name, "input.h5")
        run = subprocess.run([SERIAL_EXE, "run", P1, "-o", cls.input, "--patients", str(PATIENTS), "-q"],
                             capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            raise AssertionError(run.stderr)
        with h5py.File(cls.input, "r") as f:
            cls.expected = f["conc_ketamine"][...]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_ranks(self, ranks):
        out = os.path.join(self.tmp.name, f"k{ranks}")
        os.makedirs(out)
        result = subprocess.run(["mpirun", "-n", str(ranks), "--oversubscribe", BENCH, self.input, "conc_ketamine", out,
                                 "--repeat", "1", "--batch", str(BATCH)],
                                capture_output=True, text=True, timeout=600, env=mpi_environment())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        lines = [l for l in result.stdout.splitlines() if f"K={ranks}" in l]
        self.assertEqual(len(lines), 4, result.stdout)
        for line in lines:
            self.assertIn("(read back: identical)", line)
        return out

    def test_every_strategy_stores_the_input(self):
        for ranks in (1, 2, 3):
            with self.subTest(ranks=ranks):
                out = self.run_ranks(ranks)
                # collective-libdeflate uses a testing filter id that only the program can decode; its
                # bytes are checked by the program's own read-back (asserted above).
                for name in ("rank0", "collective", "vds"):
                    with h5py.File(os.path.join(out, f"parallel_write_{name}.h5"), "r") as f:
                        conc = f["conc"]
                        self.assertEqual(conc.is_virtual, name == "vds")
                        if name != "vds":  # a virtual dataset has no chunks of its own
                            self.assertEqual(conc.chunks, (1, BATCH, self.expected.shape[2]))
                        values = conc[...]
                    self.assertEqual(values.shape, self.expected.shape)
                    self.assertTrue(np.array_equal(values.view(np.uint32), self.expected.view(np.uint32)),
                                    f"{name}, K = {ranks}: the file does not hold the input's bits")
                rank_files = sorted(f for f in os.listdir(out) if ".rank" in f)
                self.assertEqual(rank_files, [f"parallel_write_vds.h5.rank{r}" for r in range(ranks)])
                self.assertFalse([f for f in os.listdir(out) if f.endswith(".tmp")], "a temporary file was left")


if __name__ == "__main__":
    unittest.main(verbosity=2)
