#!/usr/bin/python3
"""Mutation check: does the test suite catch small, realistic bugs?

Applies each mutant of tools/mutations.txt, one at a time, to a scratch copy of the working tree,
builds incrementally (one build folder reused for every mutant, with ccache if present), runs
ctest and reports KILLED (some test failed), SURVIVED (the whole suite passed), NO-BUILD (the
mutant does not compile: fix its line) or STALE (its pattern is not found exactly once in its file:
re-express it for the current code). The working tree is never modified.

    /usr/bin/python3 tools/mutation_check.py                      # every mutant
    /usr/bin/python3 tools/mutation_check.py --only engine --list # which mutants match 'engine'
    nice /usr/bin/python3 tools/mutation_check.py --report /tmp/mutants.md

Not part of ctest/CI: each mutant is a rebuild plus a suite run (minutes). The score is
killed / (killed + survived); stale and non-compiling mutants are listed but not scored.

tools/mutations.txt: one mutant per line, `file | pattern | replacement | why` (fields separated by
space-pipe-space; the pattern is a literal string that must occur exactly once in the file);
`[section]` lines group them; `#` starts a comment line.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


class Mutant:
    def __init__(self, number, section, path, pattern, replacement, why, line):
        self.number, self.section, self.path = number, section, path
        self.pattern, self.replacement, self.why, self.line = pattern, replacement, why, line

    @property
    def label(self):
        return f"M{self.number:02d}"


def load_mutants(path):
    mutants, section = [], ""
    with open(path, encoding="utf-8") as f:
        for line_no, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith("[") and line.rstrip().endswith("]"):
                section = line.strip()[1:-1]
                continue
            fields = line.split(" | ", 3)
            if len(fields) != 4:
                sys.exit(f"{path}:{line_no}: expected 'file | pattern | replacement | why'")
            mutants.append(Mutant(len(mutants) + 1, section, *[x.strip() for x in fields], line_no))
    return mutants


def run(cmd, cwd, log, timeout=None):
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            out.write("TIMEOUT\n")
            return -1


def copy_tree(scratch):
    """Tracked and untracked-but-not-ignored files of the working tree (not build/)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    src_dir = os.path.join(scratch, "src")
    for rel in filter(None, files):
        source, target = os.path.join(ROOT, rel), os.path.join(src_dir, rel)
        if not os.path.isfile(source):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # Unchanged files keep their mtimes so the reused build folder stays incremental; a changed
        # file gets the time of the copy. (copy2 kept the source's older mtime: after a run killed
        # mid-mutant, the restored file looked older than the mutant's object file, make did not
        # rebuild it, and the "unmutated" baseline ran the mutant.)
        if not os.path.exists(target) or open(source, "rb").read() != open(target, "rb").read():
            shutil.copyfile(source, target)
            shutil.copymode(source, target)
    # Configs refer to ../shared (the shared benchmark and reference files beside the clone).
    shared, link = os.path.join(os.path.dirname(ROOT), "shared"), os.path.join(scratch, "shared")
    if os.path.isdir(shared) and not os.path.lexists(link):
        os.symlink(shared, link)
    return src_dir


def failed_tests(log):
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    names = re.findall(r"^\s*\d+ - (.+?) \((?:Failed|Timeout|SEGFAULT|Subprocess aborted|Exception)", text, re.M)
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mutants", default=os.path.join(ROOT, "tools", "mutations.txt"))
    ap.add_argument("--scratch", default="/tmp/ketasim-mutation", help="scratch copy and build folder (reused)")
    ap.add_argument("--only", help="run only mutants whose section, file or why contains this text")
    ap.add_argument("--list", action="store_true", help="list the mutants and check their patterns, run nothing")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ctest-timeout", type=int, default=900, help="seconds for one suite run")
    ap.add_argument("--report", help="also write a Markdown table here")
    ap.add_argument("--exclude", help="ctest -E regex: skip these tests (a skipped test can only turn a kill "
                                      "into a survival, so the score stays a lower bound)")
    args = ap.parse_args()

    mutants = load_mutants(args.mutants)
    if args.only:
        mutants = [m for m in mutants if args.only in m.section or args.only in m.path or args.only in m.why]
    os.makedirs(args.scratch, exist_ok=True)
    # --list only reads the working tree: copying would change the scratch copy under a running check.
    src = ROOT if args.list else copy_tree(args.scratch)
    build = os.path.join(args.scratch, "build")
    log_dir = os.path.join(args.scratch, "logs")
    os.makedirs(log_dir, exist_ok=True)

    stale = []
    for m in mutants:
        with open(os.path.join(src, m.path), encoding="utf-8") as f:
            count = f.read().count(m.pattern)
        if count != 1:
            stale.append(m)
            print(f"{m.label} STALE     {m.path}: pattern found {count} times (tools/mutations.txt:{m.line})")
    if args.list:
        for m in mutants:
            print(f"{m.label} [{m.section}] {m.path}: {m.why}")
        return 0

    configure = ["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ccache"):
        configure.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    build_cmd = ["cmake", "--build", build, f"-j{args.jobs}"]
    ctest_cmd = ["ctest", "--test-dir", build, f"-j{args.jobs}", "--output-on-failure", "--stop-on-failure",
                 "--timeout", "600"]
    if args.exclude:
        ctest_cmd += ["-E", args.exclude]
    base_log = os.path.join(log_dir, "baseline.log")
    open(base_log, "w").close()
    if run(configure, src, base_log) or run(build_cmd, src, base_log) or \
            run(ctest_cmd, src, base_log, timeout=args.ctest_timeout):
        print(f"the unmutated tree does not build or pass its tests: see {base_log}")
        return 2
    print(f"baseline: builds and passes ({base_log})")

    results = []
    for m in mutants:
        if m in stale:
            results.append((m, "STALE", 0.0, []))
            continue
        path = os.path.join(src, m.path)
        with open(path, encoding="utf-8") as f:
            original = f.read()
        log = os.path.join(log_dir, f"{m.label}.log")
        open(log, "w").close()
        start = time.time()
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original.replace(m.pattern, m.replacement))
            if run(build_cmd, src, log):
                outcome, failed = "NO-BUILD", []
            else:
                code = run(ctest_cmd, src, log, timeout=args.ctest_timeout)
                failed = failed_tests(log)
                outcome = "KILLED" if code != 0 else "SURVIVED"
        finally:
            with open(path, "w", encoding="utf-8") as f:  # restore, whatever happened
                f.write(original)
        seconds = time.time() - start
        results.append((m, outcome, seconds, failed))
        first = f" by {failed[0]}" if failed else ""
        print(f"{m.label} {outcome:9s} {m.path}: {m.why} ({seconds:.0f} s){first}", flush=True)

    killed = sum(r[1] == "KILLED" for r in results)
    survived = [r[0] for r in results if r[1] == "SURVIVED"]
    scored = killed + len(survived)
    score = 100.0 * killed / scored if scored else float("nan")
    print(f"\nmutation score: {killed} killed of {scored} ({score:.1f}%); "
          f"{len(stale)} stale, {sum(r[1] == 'NO-BUILD' for r in results)} not compiling")
    for m in survived:
        print(f"  survived {m.label} {m.path}: {m.why}")
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(f"mutation score: {killed}/{scored} ({score:.1f}%)\n\n| mutant | section | file | why | outcome | first failing test |\n|---|---|---|---|---|---|\n")
            for m, outcome, _, failed in results:
                f.write(f"| {m.label} | {m.section} | `{m.path}` | {m.why} | {outcome} | {failed[0] if failed else ''} |\n")
    # Rebuild the unmutated tree so the scratch build folder is clean for the next run.
    run(build_cmd, src, base_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
