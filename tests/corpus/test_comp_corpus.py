#!/usr/bin/env python3
"""test_comp_corpus.py - fcs-comp over the real corpus files.

1. Every data set of $FCS_CORPUS/files whose expected JSON carries a parseable
   spillover ($SPILLOVER or SPILL) is compensated with its own matrix:
       fcs-comp -d N FILE > /dev/null        must exit 0 without a crash.
   When the matrix is not the identity and its names are $PnN of the file,
   the compensated values are also compared with an independent numpy
   computation from the expected JSON's matrix (parsed by other readers):
       expected = float32(observed) @ inv(S)  on the matrix's channels,
   observed being fcs-export of the input (the channel values fcs-comp reads,
   in float32 as the pipe carries them); every other channel unchanged.
2. FlowKit's test_comp_example.fcs with comp_complete_example.csv (-m): the
   CSV is read by Python's csv module and the same comparison is made on
   every event, and the first events once more by solving t S = o.

Tolerance: the result is rounded once to float32 and the double arithmetic
errs by about cond(S) * 1e-16, so |got - expected| <= 2^-22 * (largest
|observed| of the event's compensated channels) * cond(S).

Prints one PASS/FAIL line per data set, then "N passed, M failed"; exits 1
when anything failed, 77 when the corpus, the tools or numpy are absent.
"""

import csv
import glob
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

try:
    import numpy as np
except ImportError:  # pragma: no cover - depends on the machine
    np = None


def spill_entries(env):
    """(label, path, data set index, expected spillover) for every data set
    with a parseable spillover."""
    out = []
    for jp in sorted(glob.glob(os.path.join(env.corpus, "expected", "*.json"))):
        exp = common.load_json(jp)
        for ds in exp["datasets"]:
            sp = ds.get("spillover")
            if isinstance(sp, dict) and "matrix" in sp:
                out.append(("%s [ds%d]" % (exp["file"], ds["index"]),
                            os.path.join(env.corpus, "files", exp["file"]), ds["index"], sp))
    return out


def run_comp(env, args, out_path):
    """fcs-comp ARGS > out_path; returns a problem string or None."""
    with open(out_path, "wb") as fh:
        res = common.run([env.tool("fcs-comp")] + args)
        fh.write(res.out)
    if res.crashed() or res.rc != 0:
        return "fcs-comp %s" % res.describe()
    return None


def export_matrix(env, path, index):
    """fcs-export -d N PATH as (header, float64 array events x params)."""
    header, cols, problem = common.run_export(env, path, index, False)
    if problem:
        return None, None, problem
    arr = np.array(cols, dtype=np.float64).T if cols and cols[0] else np.zeros((0, len(header)))
    return header, arr, None


def check_values(observed, got, header, names, S, d, what):
    """got == float32(float32(observed) @ inv(S)) on `names`, others unchanged."""
    if got.shape != observed.shape:
        d.add(what + " shape", observed.shape, got.shape)
        return
    idx = [header.index(n) for n in names]
    if not idx:  # identity: nothing may change
        if not np.array_equal(got.astype(np.float32), observed.astype(np.float32)):
            d.add(what + " values", "unchanged (identity matrix)", "changed")
        return
    x = observed[:, idx].astype(np.float32).astype(np.float64)
    want = (x @ np.linalg.inv(np.array(S, dtype=np.float64))).astype(np.float32).astype(np.float64)
    cond = np.linalg.cond(np.array(S, dtype=np.float64), 1)
    scale = np.maximum(np.abs(x).max(axis=1, initial=0.0), 1.0)[:, None]
    err = np.abs(got[:, idx] - want)
    bad = np.argwhere(err > 2.0 ** -22 * scale * max(cond, 1.0))
    if len(bad):
        e, j = bad[0]
        d.add("%s %s event %d (%d values off)" % (what, names[j], e + 1, len(bad)),
              float(want[e, j]), float(got[e, idx[j]]))
    rest = [j for j in range(len(header)) if j not in idx]
    same = np.array_equal(got[:, rest].astype(np.float32), observed[:, rest].astype(np.float32))
    if not same:
        d.add(what + " uncompensated channels", "unchanged", "changed")


def is_identity(S):
    return all(S[i][j] == (1 if i == j else 0) for i in range(len(S)) for j in range(len(S)))


def check_own_spillover(env, entry, tmp):
    label, path, index, sp = entry
    d = common.Diffs()
    out = os.path.join(tmp, "own.fcs")
    problem = run_comp(env, ["-d", str(index), path], out)
    if problem:
        d.add("fcs-comp -d %d" % index, "exit 0", problem)
        return label, d
    header, observed, problem = export_matrix(env, path, index)
    if problem:
        d.add("fcs-export input", "exit 0", problem)
        return label, d
    if is_identity(sp["matrix"]):
        d.note("identity matrix: values unchanged")
        names = []
    elif all(n in header for n in sp["names"]):
        names = sp["names"]
    else:
        d.note("matrix names are not $PnN: exit status only")
        return label, d
    got_h, got, problem = export_matrix(env, out, 0)
    if problem:
        d.add("fcs-export output", "exit 0", problem)
        return label, d
    if got_h != header:
        d.add("output header", header, got_h)
        return label, d
    check_values(observed, got, header, names, sp["matrix"], d, "own")
    return label, d


def read_csv_matrix(path):
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    return rows[0], [[float(v) for v in r] for r in rows[1:]]


def check_flowkit_example(env, tmp):
    label = "FlowKit/data/test_comp_example.fcs -m comp_complete_example.csv"
    d = common.Diffs()
    base = os.path.join(env.corpus, "files", "FlowKit", "data")
    fcs, mat = os.path.join(base, "test_comp_example.fcs"), os.path.join(base, "comp_complete_example.csv")
    if not (os.path.isfile(fcs) and os.path.isfile(mat)):
        d.add("files", "present", "missing")
        return label, d
    out = os.path.join(tmp, "example.fcs")
    problem = run_comp(env, ["-m", mat, fcs], out)
    if problem:
        d.add("fcs-comp -m", "exit 0", problem)
        return label, d
    names, S = read_csv_matrix(mat)
    header, observed, problem = export_matrix(env, fcs, 0)
    got_h, got, problem2 = export_matrix(env, out, 0)
    if problem or problem2:
        d.add("fcs-export", "exit 0", problem or problem2)
        return label, d
    if got_h != header:
        d.add("output header", header, got_h)
        return label, d
    check_values(observed, got, header, names, S, d, "-m csv")
    # the first events once more by another route: solve t S = o per event
    St = np.array(S, dtype=np.float64).T
    idx = [header.index(n) for n in names]
    for e in range(min(5, observed.shape[0])):
        t = np.linalg.solve(St, observed[e, idx].astype(np.float32).astype(np.float64))
        for j, n in enumerate(names):
            g, w = got[e, idx[j]], float(np.float32(t[j]))
            if not abs(g - w) <= 2.0 ** -22 * max(abs(observed[e, idx]).max(), 1.0):
                d.add("event %d %s (solve)" % (e + 1, n), w, float(g))
    return label, d


def main():
    env = common.get_env(tools=("fcs-comp", "fcs-export"))
    if np is None:
        common.skip("numpy not importable by %s (apt-get install python3-numpy)" % sys.executable)
    todo = spill_entries(env)
    if not todo:
        common.skip("no corpus data set with a parseable spillover in %s" % env.corpus)
    os.makedirs(env.tmp, exist_ok=True)
    passed = failed = 0
    with tempfile.TemporaryDirectory(dir=env.tmp, prefix="comp_corpus.") as tmp:
        results = [check_own_spillover(env, e, tmp) for e in todo]
        results.append(check_flowkit_example(env, tmp))
    for label, d in results:
        if d:
            failed += 1
            print("FAIL %s: %s" % (label, d.first()))
        else:
            passed += 1
            print("PASS %s" % label + ("  [%s]" % "; ".join(d.notes) if d.notes else ""))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
