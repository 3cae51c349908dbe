#!/usr/bin/python3
"""`ketasim summary` on crafted and damaged results files (issue 14).

Every file that is not a ketasim results file of a known version, or whose datasets have the wrong
rank, shape or values, is bad input: exit 1 with a message naming the file, never a crash (exit
134/139 or a signal). Byte-corrupted copies of a real file either fail with exit 1 or, when the
damage missed everything the table uses, print exactly the original table.

Environment (set by ctest): KETASIM_EXE, KETASIM_SOURCE_DIR.
"""
import os
import random
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

SOURCE_DIR = os.environ.get("KETASIM_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KETASIM_EXE = os.environ.get("KETASIM_EXE") or os.path.join(SOURCE_DIR, "build", "ketasim")


def ketasim(*args):
    return subprocess.run([KETASIM_EXE, *args], capture_output=True, text=True, timeout=120)


class HostileResultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ketasim_hostile_results_")
        cls.plain = os.path.join(cls.tmp.name, "plain.h5")
        cls.sweep = os.path.join(cls.tmp.name, "sweep.h5")
        for config, out in (("default.yaml", cls.plain), ("sweep-esketamine.yaml", cls.sweep)):
            proc = ketasim("run", os.path.join(SOURCE_DIR, "configs", config), "--patients", "40", "--quiet", "-o", out)
            assert proc.returncode == 0, proc.stderr
        cls.plain_table = ketasim("summary", cls.plain).stdout

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def crafted(self, source, name, change):
        path = os.path.join(self.tmp.name, name)
        shutil.copyfile(source, path)
        with h5py.File(path, "r+") as f:
            change(f)
        return path

    def assert_refused(self, path, *fragments):
        proc = ketasim("summary", path)
        self.assertEqual(proc.returncode, 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        self.assertIn(path, proc.stderr)
        for fragment in fragments:
            self.assertIn(fragment, proc.stderr)

    def test_the_untouched_files_are_read(self):
        self.assertEqual(ketasim("summary", self.plain).returncode, 0)
        proc = ketasim("summary", self.sweep)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("sweep point", proc.stdout)

    def test_sweep_file_without_its_point_labels(self):
        path = self.crafted(self.sweep, "no-points.h5", lambda f: f.attrs.__delitem__("sweep_points"))
        self.assert_refused(path, "sweep_points")

    def test_status_larger_than_arm_by_patient(self):
        def grow(f):
            arms, patients = f["status"].shape
            del f["status"]
            f.create_dataset("status", data=np.zeros((arms, patients + 5), dtype=np.int8))
        self.assert_refused(self.crafted(self.plain, "big-status.h5", grow), "status", "shape")

    def test_an_empty_label_is_refused_not_printed(self):
        # A byte of damage once turned the "response" label into "": `summary` printed its tables
        # with the endpoint's name missing and exit 0. ketasim writes no empty label.
        for dataset in ("event_endpoint", "arm"):
            path = self.crafted(self.plain, f"empty-{dataset}.h5", lambda f, d=dataset: f[d].__setitem__(0, ""))
            self.assert_refused(path, dataset, "an empty label")

    def test_two_dimensional_arm_labels(self):
        def reshape(f):
            del f["arm"]
            f.create_dataset("arm", data=np.array([["a", "b"], ["c", "d"]], dtype=h5py.string_dtype()))
        self.assert_refused(self.crafted(self.plain, "arm-2d.h5", reshape), "arm", "2 axes, expected 1")

    def test_three_dimensional_patient_axis(self):
        def reshape(f):
            n = f["patient"].shape[0]
            del f["patient"]
            f.create_dataset("patient", data=np.zeros((n, 2, 2), dtype=np.int64))
        self.assert_refused(self.crafted(self.plain, "patient-3d.h5", reshape), "patient", "3 axes, expected 1")

    def test_wrong_types_and_links(self):
        def float_status(f):
            shape = f["status"].shape
            del f["status"]
            f.create_dataset("status", data=np.zeros(shape, dtype=np.float32))
        self.assert_refused(self.crafted(self.plain, "float-status.h5", float_status), "integer")

        def soft_link(f):
            del f["remission"]
            f["remission"] = h5py.SoftLink("/response")
        self.assert_refused(self.crafted(self.plain, "soft-link.h5", soft_link), "remission")

        def group(f):
            del f["relapse"]
            f.create_group("relapse")
        self.assert_refused(self.crafted(self.plain, "group.h5", group), "relapse", "not a dataset")

        def array_attribute(f):
            f.attrs["primary_visit_d"] = np.arange(1000.0)
        self.assert_refused(self.crafted(self.plain, "array-attr.h5", array_attribute), "primary_visit_d")

    def test_impossible_values(self):
        def bad_status(f):
            status = f["status"][...]
            status[0, 0] = 99
            f["status"][...] = status
        self.assert_refused(self.crafted(self.plain, "status-99.h5", bad_status), "flag_values")

        def bad_change(f):
            change = f["madrs_change"][...]
            change[0, 0] = 1e30
            f["madrs_change"][...] = change
        self.assert_refused(self.crafted(self.plain, "change.h5", bad_change), "madrs_change")

    def test_parameter_draw_rates_outside_0_1_name_their_dataset(self):
        draws = os.path.join(self.tmp.name, "draws.h5")
        proc = ketasim("run", os.path.join(SOURCE_DIR, "configs", "sustain1-withdrawal.yaml"), "--patients", "40",
                       "--set", "endpoints.parameter_uncertainty={draws: 2}", "--quiet", "-o", draws)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for i, name in enumerate(("parameter_draw_response", "parameter_draw_remission")):
            def too_high(f, name=name):
                values = f[name][...]
                values[1, 0] = 2.0
                f[name][...] = values
            # The file name must not contain the dataset name: the message has to say it.
            self.assert_refused(self.crafted(draws, f"draw-rate-{i}.h5", too_high), name, "a rate outside [0, 1]")

    def test_files_that_are_not_ketasim_results_of_a_known_version(self):
        self.assert_refused(self.crafted(self.plain, "other.h5", lambda f: f.attrs.__setitem__("software", "other")),
                            "another program")
        self.assert_refused(self.crafted(self.plain, "future.h5",
                                         lambda f: f.attrs.__setitem__("software_version", "9.0.0")),
                            "ketasim 9.0.0")
        self.assert_refused(self.crafted(self.plain, "anonymous.h5", lambda f: f.attrs.__delitem__("software")),
                            "software")
        empty = os.path.join(self.tmp.name, "empty.h5")
        h5py.File(empty, "w").close()
        self.assert_refused(empty, "not a ketasim results file")
        text = os.path.join(self.tmp.name, "text.h5")
        with open(text, "w") as f:
            f.write("not hdf5\n")
        self.assert_refused(text, "not an HDF5 file")

    def test_damaged_global_heap_is_refused_not_looped_on(self):
        # The fuzzer's reproducer: libhdf5 1.10.8 loops forever reading its variable-length strings.
        path = os.path.join(SOURCE_DIR, "tests", "fuzz", "crashes", "results", "hdf5-global-heap-hang.h5")
        self.assert_refused(path, "damaged HDF5 file", "global heap collection at byte 2048")

    def test_chunk_sizes_beyond_the_file_are_refused_before_reading(self):
        # fuzz_results: a damaged chunk index made libhdf5 allocate 3.6 GB inside H5Dread.
        path = os.path.join(SOURCE_DIR, "tests", "fuzz", "crashes", "results", "oom-chunk-larger-than-dataset.h5")
        self.assert_refused(path, "chunks are larger than the dataset or the file")

    def test_byte_corrupted_copies_never_crash_or_change_the_table(self):
        with open(self.plain, "rb") as f:
            original = f.read()
        rng = random.Random(14)
        silent = 0
        for i in range(150):
            data = bytearray(original)
            for _ in range(rng.choice([1, 4, 32])):
                data[rng.randrange(len(data))] = rng.randrange(256)
            path = os.path.join(self.tmp.name, f"corrupt-{i}.h5")
            with open(path, "wb") as f:
                f.write(data)
            proc = ketasim("summary", path)
            self.assertIn(proc.returncode, (0, 1), f"copy {i}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            if proc.returncode == 0:
                silent += 1
                # The damage missed what the table uses (e.g. the config text): same table.
                self.assertEqual(proc.stdout, self.plain_table, f"copy {i} printed another table")
            os.remove(path)
        print(f"{silent} of 150 corrupted copies printed the original table; the rest exit 1")


if __name__ == "__main__":
    unittest.main()
