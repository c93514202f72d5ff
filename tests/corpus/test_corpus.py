#!/usr/bin/env python3
"""test_corpus.py - read every corpus FCS file with the tools and compare with
the independently computed expected values.

For each $FCS_CORPUS/expected/<id>.json (and gatingml2/data1.fcs with its
data1.fcs.expected.json) this runs
    fcs-info --json FILE
    fcs-export --raw -d N FILE     and     fcs-export -d N FILE   (every data set N)
and compares, following the corpus README's tolerance guide:
  exactly: fcs_version, number of data sets, index, offset, tot, par, datatype,
           byteord, mode, names, labels, bits, ranges, I-data masks, spillover
           names and matrix, data_segment, raw_first_rows, raw_col_min/max,
           raw_col_sum of I data;
  rel 1e-9: raw_col_sum of F/D/A data, scaled_col_sum.
fcs-export prints $DATATYPE F values in float32 precision, so every printed F
value is rounded to float32 before it is compared or summed (math.fsum).

Prints one PASS/FAIL line per file (with the first difference), then exactly
"N passed, M failed"; exits 1 when anything failed, 77 when the corpus or the
tools are absent. Every difference is also written to /tmp/corpus-failures.txt
(section test_corpus) for the reader's engineer.
"""

import collections
import glob
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

MAX_ROWS_PER_FILE = 8  # distinct failure causes per file written to the failures file


def cause(field):
    """A field name with parameter numbers and indexes blanked, so that the
    same cause on 16 parameters is reported once: ds0.P3.mask -> ds0.Pn.mask."""
    return re.sub(r"\[\d+\]", "[i]", re.sub(r"\bP\d+\.", "Pn.", field))


def distinct(items):
    """First difference of each cause, with how many more had the same cause."""
    seen = collections.OrderedDict()
    for field, e, g in items:
        c = cause(field)
        if c in seen:
            seen[c][3] += 1
        else:
            seen[c] = [field, e, g, 0]
    return [(f, e, g + (" (same cause in %d more)" % n if n else ""))
            for f, e, g, n in seen.values()]


def entries(env):
    """(label, fcs path, expected JSON path) for every corpus file with expectations."""
    out = []
    for jp in sorted(glob.glob(os.path.join(env.corpus, "expected", "*.json"))):
        exp = common.load_json(jp)
        out.append((exp["file"], os.path.join(env.corpus, "files", exp["file"]), jp))
    gml = os.path.join(env.corpus, "gatingml2", "data1.fcs")
    if os.path.exists(gml + ".expected.json"):
        out.append(("gatingml2/data1.fcs", gml, gml + ".expected.json"))
    return out


def check_entry(env, entry):
    label, path, jpath = entry
    d = common.Diffs()
    exp = common.load_json(jpath)
    if not os.path.isfile(path):
        d.add("file", "present", "missing: " + path)
        return label, d
    _, info, problem = common.run_info(env, path)
    if problem:
        d.add("fcs-info", "exit 0 and one JSON line", problem)
    else:
        if info.get("file") != path:
            d.add("file", path, info.get("file"))
        if info.get("fcs_version") != exp["fcs_version"]:
            d.add("fcs_version", exp["fcs_version"], info.get("fcs_version"))
        n_exp = len(exp["datasets"])
        if info.get("n_datasets") != n_exp:
            d.add("n_datasets", n_exp, info.get("n_datasets"))
        got_ds = info.get("datasets") if isinstance(info.get("datasets"), list) else []
        if len(got_ds) != n_exp:
            d.add("datasets (count)", n_exp, len(got_ds))
        for ed, gd in zip(exp["datasets"], got_ds):
            common.compare_info_dataset(ed, gd, d, "ds%d." % ed["index"])
    for ed in exp["datasets"]:
        common.compare_exports(env, path, ed, d, "ds%d." % ed["index"])
    return label, d


def main():
    env = common.get_env()
    todo = entries(env)
    if not todo:
        common.skip("no expected/*.json in %s" % env.corpus)
    passed = failed = 0
    rows = []
    by_cause = collections.Counter()
    # Two workers: the machine's two cores are shared with other builds.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for label, d in pool.map(lambda e: check_entry(env, e), todo):
            if d:
                failed += 1
                print("FAIL %s: %s" % (label, d.first()))
                causes = distinct(d.items)
                by_cause.update(set(re.sub(r"^ds\d+\.", "", cause(f)) for f, _, _ in causes))
                for field, e, g in causes[:MAX_ROWS_PER_FILE]:
                    rows.append((label, field, e, g))
                if len(causes) > MAX_ROWS_PER_FILE:
                    rows.append((label, "...", "", "%d more causes" % (
                        len(causes) - MAX_ROWS_PER_FILE)))
            else:
                passed += 1
                print("PASS %s" % label + ("  [%s]" % "; ".join(d.notes) if d.notes else ""))
            sys.stdout.flush()
    summary = "%d passed, %d failed" % (passed, failed)
    counts = [("(summary)", c, "", "%d file(s)" % n) for c, n in by_cause.most_common()]
    common.write_failures("test_corpus", "test_corpus.py: " + summary, counts + rows)
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
