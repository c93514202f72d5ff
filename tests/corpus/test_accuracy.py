#!/usr/bin/env python3
"""Accuracy of the main job against the truth of fcs-synth.

For every file of sample_data/ and a few freshly generated presets with other seeds, the
main job (scripts/main-job: fcs-cat | fcs-comp | fcs-xform | fcs-gate | fcs-stats, merged by
fcs-h5) gates with the default strategy, and every population of the strategy is compared
with the true population of every event (the TruePopulation parameter of fcs-synth --truth).
This test needs no corpus: it makes its own files and never skips for lack of one.

Truth of each gate population (the true populations it should hold; docs/workflow.md,
"Accuracy", with the populations of docs/synth.md):

    Time          every event                 Beads         beads
    Singlets      all but doublets (*)        Live          all but doublets, dead, beads (*)
    Leukocytes    granulocytes, monocytes and the lymphocytes below
    Granulocytes  granulocytes                Monocytes     monocytes
    Lymphocytes   NK, T-CD4, T-CD8, CAR-T-CD4, CAR-T-CD8, B-CD20+, B-CD20-
    T             T-CD4, T-CD8, CAR-T-CD4, CAR-T-CD8
    CD4           T-CD4, CAR-T-CD4            CD8           T-CD8, CAR-T-CD8
    CAR+          CAR-T-CD4, CAR-T-CD8        CAR+CD4       CAR-T-CD4   CAR+CD8  CAR-T-CD8
    B             B-CD20+, B-CD20-            CD20+         B-CD20+     NK       NK

(*) debris is left out of the Singlets and Live comparisons: its viability signal is
variable by design and the strategy removes it with the CD45 gate (Leukocytes), so whether
a debris event is a "singlet" or "live" has no true answer.

Counts. Gates cut through overlapping populations: a gate loses the tail of its population
that lies beyond a threshold and takes in the tail of a neighbour (the CD19-dim B-CD20-
cells, NK cells beyond the lymphocytes' SSC limit, monocytes in the lymphocyte scatter
gate, CD8 T cells in the upper tail of the CAR reagent's stain). In a file these numbers
are binomial. A population of true count N may differ from N by at most

    tol = 1 + max(b(N, R), b(M, L)) + U,   b(n, r) = r n + 3 sqrt(r n)

the expected number lost (R: the share of its true events it may lose, in its own gate or
upstream) or taken in (L: the share of the M events of its parent's truth inside its parent
gate that it may take in), plus three binomial standard deviations, plus one event, plus U,
the foreign events its parent gate let in (exact; the parent's own check is charged with
them: the CD8 T cells above the CAR threshold are then CAR+CD8). R and L are set per
population (TRUTH below) at about twice the rates measured over 31 files (the six presets x
five seeds and a 200,000-event file): 0.1 % lost and 0.02 % taken in for well separated
populations (beads, singlets, live, T, CD4, CD8, CD20+), up to 1.5 % lost for NK (SSC
limit), 1.2 % for the CAR-T cells (the reagent's broad stain) and 5 % for B cells (the
CD19-dim plasmablasts).

Absolute counts. cells/uL = events / bead events x beads per test / uL: the main job's,
from the gated beads and sample_data/beads.txt; the truth's, from the true counts and the
tube fcs-synth recorded in the file (LIBFCS_BEADS_PER_TEST, LIBFCS_VOLUME_UL), so a wrong
bead lot shows. Counted events are Poisson: the
relative error of an absolute count is sqrt(1/N + 1/beads) (docs/statistics.md: the bead
count's 1/sqrt(beads) and the cells' own counting error); the measured value must lie
within 3 sigma of the truth (sigma of one event for a population whose truth is empty).

Prints the table and "N passed, M failed"; exit 1 when a check failed.
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("FCS_BIN", "")
SRC = os.environ.get("FCS_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
TMP = os.environ.get("FCS_TMP", tempfile.gettempdir())
# FCS_SAMPLE_DATA: another folder of fcs-synth --truth files with the same panel (default
# sample_data/ of the source tree)
SAMPLE_DATA = os.environ.get("FCS_SAMPLE_DATA") or os.path.join(SRC, "sample_data")
STRATEGY = os.path.join(SRC, "sample_data", "strategy.txt")
BEADS = os.path.join(SRC, "sample_data", "beads.txt")

# freshly generated presets with other seeds than sample_data/ (one of them larger)
FRESH = [("day14-s4242", ["--preset", "day14", "--seed", "4242"]),
         ("healthy-s5151", ["--preset", "healthy", "--seed", "5151"]),
         ("baseline-n100k-s77", ["--preset", "baseline", "-n", "100000", "--seed", "77"])]

LYMPHOCYTES = ["NK", "T-CD4", "T-CD8", "CAR-T-CD4", "CAR-T-CD8", "B-CD20+", "B-CD20-"]
ALL = "all"
# gate population -> (its true populations, or ALL / ("not", [...]);
#                     R: share of its true events it may lose, here or upstream;
#                     L: share of its parent's other events it may take in)
TRUTH = {
    "Time": (ALL, 0.0, 0.0),
    "Beads": (["beads"], 0.001, 0.0002),
    "Singlets": (("not", ["doublets"]), 0.001, 0.0002),
    "Live": (("not", ["doublets", "dead", "beads"]), 0.001, 0.0002),
    "Leukocytes": (["granulocytes", "monocytes"] + LYMPHOCYTES, 0.001, 0.001),
    "Granulocytes": (["granulocytes"], 0.003, 0.0002),
    "Monocytes": (["monocytes"], 0.003, 0.0002),
    "Lymphocytes": (LYMPHOCYTES, 0.006, 0.001),
    "T": (["T-CD4", "T-CD8", "CAR-T-CD4", "CAR-T-CD8"], 0.001, 0.0002),
    "CD4": (["T-CD4", "CAR-T-CD4"], 0.001, 0.0002),
    "CD8": (["T-CD8", "CAR-T-CD8"], 0.001, 0.0002),
    "CAR+": (["CAR-T-CD4", "CAR-T-CD8"], 0.012, 0.0005),
    "CAR+CD4": (["CAR-T-CD4"], 0.012, 0.0002),
    "CAR+CD8": (["CAR-T-CD8"], 0.012, 0.0002),
    "B": (["B-CD20+", "B-CD20-"], 0.05, 0.0002),
    "CD20+": (["B-CD20+"], 0.001, 0.0002),
    "NK": (["NK"], 0.015, 0.0002),
}
IGNORE = {"Singlets": {"debris"}, "Live": {"debris"}}


def tool(name):
    return os.path.join(BIN, name)


def run(args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, **kw).stdout


def binomial_bound(n, r):
    return r * n + 3.0 * math.sqrt(r * n)


def tolerance(n_true, n_parent_others, r, l):
    return 1 + max(binomial_bound(n_true, r), binomial_bound(n_parent_others, l))


def synth_keywords(path):
    """The truth fcs-synth wrote: TruePopulation number -> population name (from
    LIBFCS_SYNTH_POPULATIONS), and the tube's beads per test and uL (LIBFCS_BEADS_PER_TEST,
    LIBFCS_VOLUME_UL: independent of the bead-lot file the job was given)."""
    kw = {}
    for line in run([tool("fcs-info"), "--metadata-only", path]).decode().splitlines():
        key, sep, value = line.strip().partition(" = ")
        if sep and key.startswith("LIBFCS_"):
            kw[key] = value
    if "LIBFCS_SYNTH_POPULATIONS" not in kw or "LIBFCS_BEADS_PER_TEST" not in kw:
        return None, None, None
    names = {int(k): v for k, v in (x.split("=", 1) for x in kw["LIBFCS_SYNTH_POPULATIONS"].split(","))}
    return names, float(kw["LIBFCS_BEADS_PER_TEST"]), float(kw["LIBFCS_VOLUME_UL"])


def in_truth(spec, name):
    if spec == ALL:
        return True
    if isinstance(spec, tuple):
        return name not in spec[1]
    return name in spec


def gated_events(path, sample):
    """The file through the main job's own chain (its --plan), as fcs-export prints it:
    (header, rows) with rows of strings."""
    plan = run(["bash", os.path.join(SRC, "scripts", "main-job"), "-b", BIN, "--plan", path,
                "--strategy", STRATEGY, "--beads", "none"]).decode()
    comp, xform = False, []
    for line in plan.splitlines():
        key, value = line.split("\t", 1)
        if key == "comp":
            comp = value == "1"
        elif key == "xform":
            xform += ["-t", value]
    procs, prev = [], None
    stages = [[tool("fcs-cat"), path]]
    if comp:
        stages.append([tool("fcs-comp"), "-"])
    if xform:
        stages.append([tool("fcs-xform")] + xform + ["-"])
    stages += [[tool("fcs-gate"), "-g", STRATEGY, "-"], [tool("fcs-export"), "-"]]
    for argv in stages:
        p = subprocess.Popen(argv, stdin=prev, stdout=subprocess.PIPE)
        if prev is not None:
            prev.close()
        prev = p.stdout
        procs.append(p)
    text = prev.read().decode()
    prev.close()
    status = [p.wait() for p in procs]
    if any(status):
        raise RuntimeError("%s: the chain failed (exit statuses %s)" % (sample, status))
    lines = text.splitlines()
    return lines[0].split("\t"), [l.split("\t") for l in lines[1:]]


def cohort_values(cohort):
    """(sample, population) -> {statistic: value} for the population rows of the cohort."""
    out = {}
    text = run([tool("fcs-h5"), "export", cohort]).decode()
    for line in text.splitlines()[1:]:
        f = line.split("\t")
        if f[4] != "NA":
            continue
        out.setdefault((f[0], f[1]), {})[f[3]] = f[7]
    return out


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
        return ok


def evaluate_file(sample, path, cohort, checks):
    names, bpt, vol = synth_keywords(path)
    if not checks.check(names is not None, "%s: no LIBFCS_SYNTH_POPULATIONS (not fcs-synth --truth)" % sample):
        return
    head, rows = gated_events(path, sample)
    if not checks.check("TruePopulation" in head, "%s: no TruePopulation parameter" % sample):
        return
    tp = head.index("TruePopulation")
    true_name = [names[int(float(r[tp]))] for r in rows]
    pops = [(i, h[4:]) for i, h in enumerate(head) if h.startswith("POP:")]
    member = {path_: [float(r[i]) >= 0.5 for r in rows] for i, path_ in pops}
    beads_true = sum(1 for n in true_name if n == "beads")
    bead_path = next(p for _, p in pops if p.endswith("/Beads"))
    beads_gated = sum(member[bead_path])
    for _, pop in pops:
        pid = pop.rsplit("/", 1)[1]
        parent = pop.rsplit("/", 1)[0]
        spec, r, l = TRUTH[pid]
        pspec = TRUTH[parent.rsplit("/", 1)[1]][0] if parent else ALL
        in_parent = member[parent] if parent else [True] * len(true_name)
        ignore = IGNORE.get(pid, set())
        # lost: true events missing here, whichever gate lost them (rate r); taken in: events
        # of the parent's truth that this gate let in (rate l, among the parent gate's others),
        # plus foreign events the parent let in (charged to the parent's own check)
        g = t = fp = fn = up = others = 0
        for k, name in enumerate(true_name):
            if name in ignore:
                continue
            inside, truth = member[pop][k], in_truth(spec, name)
            parent_true = in_truth(pspec, name)
            g += inside
            t += truth
            fp += inside and not truth
            fn += truth and not inside
            up += inside and not truth and not parent_true
            others += in_parent[k] and not truth and parent_true
        tol = tolerance(t, others, r, l) + up
        ok_count = checks.check(abs(g - t) <= tol, "%s %s: gated %d, true %d (tolerance %.1f)" % (sample, pid, g, t, tol))
        # the main job's summary holds the same count (the same chain, merged by fcs-h5)
        got = cohort.get((sample, pop), {})
        full_g = sum(member[pop])
        checks.check(got.get("count") == str(full_g),
                     "%s %s: cohort count %s, gated stream %d" % (sample, pid, got.get("count"), full_g))
        # absolute counts: within 3 sigma of the Poisson error
        # debris of Singlets / Live counts as it was gated (see the docstring)
        all_true = t + (full_g - g)
        per_event = bpt / vol / beads_true
        true_ul = all_true * per_event
        measured = float(got.get("cells_per_ul", "nan"))
        sigma = per_event * math.sqrt(max(all_true, 1) + all_true ** 2 / max(beads_gated, 1))
        ok_abs = checks.check(abs(measured - true_ul) <= 3 * sigma,
                              "%s %s: %.3f cells/uL, true %.3f (3 sigma %.3f)" % (sample, pid, measured, true_ul, 3 * sigma))
        print("%-20s %-13s %7d %7d %5d %5d %5d %7.1f %s %10.3f %10.3f %8.3f %s" % (
            sample, pid, g, t, fp, fn, up, tol, "ok  " if ok_count else "FAIL",
            measured, true_ul, 3 * sigma, "ok" if ok_abs else "FAIL"))


def main():
    if not BIN or not os.path.isdir(BIN):
        print("test_accuracy: FCS_BIN is not set to a build folder")
        return 1
    for t in ("fcs-synth", "fcs-cat", "fcs-comp", "fcs-xform", "fcs-gate", "fcs-stats", "fcs-h5",
              "fcs-export", "fcs-info"):
        if not os.access(tool(t), os.X_OK):
            print("test_accuracy: %s not built" % tool(t))
            return 1
    os.makedirs(TMP, exist_ok=True)
    work = tempfile.mkdtemp(prefix="accuracy.", dir=TMP)
    try:
        data = os.path.join(work, "data")
        os.mkdir(data)
        files = sorted(f for f in os.listdir(SAMPLE_DATA) if f.endswith(".fcs"))
        if not files:
            print("test_accuracy: no FCS file in %s (scripts/make-sample-data makes them)" % SAMPLE_DATA)
            return 1
        for f in files:
            os.symlink(os.path.abspath(os.path.join(SAMPLE_DATA, f)), os.path.join(data, f))
        for name, args in FRESH:
            run([tool("fcs-synth")] + args + ["--truth", "--no-version", "-o",
                                               os.path.join(data, name + ".fcs")])
        cohort = os.path.join(work, "cohort.h5")
        job = subprocess.run(["bash", os.path.join(SRC, "scripts", "main-job"), "-b", BIN,
                              "--strategy", STRATEGY, "--beads", BEADS, "-o", cohort, data],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(job.stdout.decode())
        if job.returncode != 0:
            print("test_accuracy: scripts/main-job failed (exit %d)" % job.returncode)
            return 1
        values = cohort_values(cohort)
        checks = Checks()
        print("%-20s %-13s %7s %7s %5s %5s %5s %7s %s %10s %10s %8s %s" % (
            "sample", "population", "gated", "true", "FP", "FN", "up", "tol", "cnt ", "cells/uL",
            "true/uL", "3 sigma", "abs"))
        for f in sorted(os.listdir(data)):
            if f.endswith(".fcs"):
                evaluate_file(f[:-4], os.path.join(data, f), values, checks)
        print()
        for what in checks.failed:
            print("FAIL: " + what)
        print("%d passed, %d failed" % (checks.passed, len(checks.failed)))
        return 1 if checks.failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
