#!/usr/bin/env python3
"""test_malformed.py - every row of $FCS_CORPUS/malformed/CASES.tsv behaves as
its good_reader column says.

  reject  fcs-info and fcs-export exit 1 with ONE stderr line
          "TOOLNAME: FILE: message" (no crash: no signal, no sanitizer report,
          no traceback-like output).
  repair  exit 0, the named warning is in fcs-info --json "warnings", and the
          repaired values listed in CASES.tsv match.
  strict  --strict rejects where the row says so.
  metadata-only  fcs-info --metadata-only succeeds on the header-only stub.

The cases are keyed by file; a row this test does not know is checked as a
plain reject when its good_reader text starts with "Reject" and fails
otherwise, so a new row cannot pass unnoticed. Prints one PASS/FAIL line per
row, then "N passed, M failed"; differences go to /tmp/corpus-failures.txt
(section test_malformed).
"""

import csv
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

VARIABLE_INT = "FlowIO__data__fcs_files__variable_int_example.fcs.json"
NL2000 = "cytoflow__cytoflow__tests__data__instruments__Cytek NL-2000.fcs.json"
METADATA_FIELDS = {"tot", "par", "datatype", "byteord", "mode", "names", "labels", "bits",
                   "ranges", "spillover"}


class Case:
    def __init__(self, env, row):
        self.env = env
        self.row = row
        self.path = os.path.join(env.corpus, "malformed", row["file"])
        self.d = common.Diffs()

    # -- building blocks ---------------------------------------------------

    def expect_reject(self, tool, *args, mention=None):
        """tool must exit 1 with one line 'tool: FILE: message' on stderr."""
        argv = [self.env.tool(tool)] + list(args) + [self.path]
        res = common.run(argv)
        what = " ".join([tool] + list(args))
        if res.crashed():
            self.d.add(what, "exit 1 (reject)", res.describe())
            return res
        if res.rc != 1:
            self.d.add(what, "exit 1 (reject)", "exit %d" % res.rc)
            return res
        lines = res.err_lines()
        prefix = "%s: %s: " % (tool, self.path)
        if len(lines) != 1:
            self.d.add(what + " stderr", "one line",
                       "%d lines: %s" % (len(lines), " | ".join(lines)[:200]))
        elif not lines[0].startswith(prefix) or len(lines[0]) == len(prefix):
            self.d.add(what + " stderr", prefix + "<message>", lines[0])
        elif mention and mention.lower() not in lines[0].lower():
            self.d.add(what + " stderr", "a message mentioning %s" % mention, lines[0])
        if "Traceback" in res.err or "Aborted" in res.err:
            self.d.add(what + " stderr", "no traceback", res.err[:200])
        return res

    def info(self, *flags):
        """fcs-info --json that must succeed; returns data set 0 or None."""
        _, obj, problem = common.run_info(self.env, self.path, *flags)
        what = "fcs-info --json " + " ".join(flags)
        if problem:
            self.d.add(what.strip(), "exit 0", problem)
            return None, None
        ds = obj.get("datasets") or [{}]
        return obj, ds[0]

    def expect_warning(self, ds, name):
        warnings = ds.get("warnings") if isinstance(ds.get("warnings"), list) else []
        if not any(w.startswith(name + ": ") for w in warnings):
            self.d.add("warnings", "'%s: ...'" % name, warnings)

    def expect_raw(self, rows=None, sums=None, names=None, tot=None):
        header, cols, problem = common.run_export(self.env, self.path, 0, True)
        if problem:
            self.d.add("fcs-export --raw", "exit 0", problem)
            return
        if names is not None and header != common.export_header(names):
            self.d.add("export header", common.export_header(names), header)
        if tot is not None and len(cols[0]) != tot:
            self.d.add("export rows", tot, len(cols[0]))
        for i, row in enumerate(rows or []):
            got = [c[i] if i < len(c) else None for c in cols]
            if got[:len(row)] != row:
                self.d.add("event %d" % i, row, got)
        for j, s in enumerate(sums or []):
            if j < len(cols) and not common.same_value(sum(cols[j]), s):
                self.d.add("raw_col_sum[%d]" % j, s, sum(cols[j]))

    def expected(self, name):
        return common.load_json(os.path.join(self.env.corpus, "expected", name))

    # -- the cases -----------------------------------------------------------

    def reject_everywhere(self, mention=None):
        for strict in ((), ("--strict",)):
            self.expect_reject("fcs-info", *strict, mention=mention)
            res = self.expect_reject("fcs-export", "--raw", *strict, mention=mention)
            if res.out.count(b"\n") > 1:
                self.d.add("fcs-export stdout", "no events", "%d lines" % res.out.count(b"\n"))

    def offset_repair(self):
        """HEADER DATA offsets wrong, TEXT offsets right: use TEXT, warn; strict rejects."""
        exp = self.expected(VARIABLE_INT)["datasets"][0]
        exp = dict(exp, data_segment={"begin": 6081, "end": 6188, "from": "TEXT"})
        obj, ds = self.info()
        if ds is not None:
            self.expect_warning(ds, "offsets-header-text-disagree")
            common.compare_info_dataset(exp, ds, self.d, "ds0.")
        common.compare_exports(self.env, self.path, exp, self.d, "ds0.")
        self.expect_reject("fcs-info", "--strict")
        self.expect_reject("fcs-export", "--strict")

    def header_stub(self):
        """HEADER+TEXT only: events rejected, metadata-only read succeeds."""
        self.expect_reject("fcs-export", "--raw")
        self.expect_reject("fcs-info")
        full = self.expected(NL2000)
        obj, ds = self.info("--metadata-only")
        if ds is None:
            return
        if obj.get("fcs_version") != full["fcs_version"]:
            self.d.add("fcs_version", full["fcs_version"], obj.get("fcs_version"))
        self.expect_warning(ds, "data-truncated")
        common.compare_info_dataset(full["datasets"][0], ds, self.d, "ds0.", fields=METADATA_FIELDS)

    def no_crc(self):
        """FCS 3.0 ASCII data set without CRC and without $PnN."""
        self.expect_reject("fcs-info", "--strict")
        obj, ds = self.info()
        if ds is not None:
            self.expect_warning(ds, "missing-crc")
            self.expect_warning(ds, "missing-name")
            params = ds.get("parameters") or []
            got = [(p.get("name"), p.get("range")) for p in params]
            if got != [(None, 1000), (None, 1000)]:
                self.d.add("parameters (name, range)", [(None, 1000), (None, 1000)], got)
            if ds.get("tot") != 4 or ds.get("par") != 2:
                self.d.add("tot/par", [4, 2], [ds.get("tot"), ds.get("par")])
        self.expect_raw(rows=[[100, 200], [100, 200], [300, 400], [300, 400]],
                        sums=[800, 1200], names=[None, None], tot=4)

    def bad_mode(self):
        """$MODE U (histograms) is not list mode: reject, never decode."""
        self.reject_everywhere(mention="MODE")

    def duplicate_name(self):
        """$P1N = $P2N: strict rejects; lenient rejects or repairs with a warning."""
        self.expect_reject("fcs-info", "--strict")
        res = common.run([self.env.tool("fcs-info"), "--json", self.path])
        if res.rc == 1 and not res.crashed():
            self.d.note("lenient mode rejects")
            self.expect_reject("fcs-info")
            return
        obj, ds = self.info()
        if ds is None:
            return
        self.d.note("lenient mode repairs")
        self.expect_warning(ds, "duplicate-name")
        self.expect_raw(rows=[[400, 300], [600, 300]], sums=[7500, 7300], tot=15)

    def truncated_data(self):
        """DATA ends past end of file: reject, never return shifted events."""
        self.reject_everywhere()

    def generic(self):
        if self.row["good_reader"].lower().startswith("reject"):
            self.reject_everywhere()
        else:
            self.d.add("test_malformed.py", "a handler for this row", "none (update the test)")


HANDLERS = {
    "FlowKit/data_start_offset_discrepancy_example.fcs": Case.offset_repair,
    "FlowKit/data_stop_offset_discrepancy_example.fcs": Case.offset_repair,
    "fcsparser/corrupted.fcs": Case.reject_everywhere,
    "fcsparser/sample_header.fcs": Case.header_stub,
    "FACEJava/invalid-no_crc.fcs": Case.no_crc,
    "FACEJava/invalid-bad_data_set_type.fcs": Case.bad_mode,
    "FACEJava/invalid-duplicate_parameter_name.fcs": Case.duplicate_name,
    "readfcs/example.fcs": Case.truncated_data,
    "FCSFiles.jl/testFCS2.fcs": Case.reject_everywhere,
}


def main():
    env = common.get_env()
    tsv = os.path.join(env.corpus, "malformed", "CASES.tsv")
    if not os.path.isfile(tsv):
        common.skip("no %s" % tsv)
    with open(tsv, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    passed = failed = 0
    out = []
    for row in rows:
        case = Case(env, row)
        if not os.path.isfile(case.path):
            case.d.add("file", "present", "missing")
        else:
            HANDLERS.get(row["file"], Case.generic)(case)
        notes = "  [%s]" % "; ".join(case.d.notes) if case.d.notes else ""
        if case.d:
            failed += 1
            print("FAIL %s: %s%s" % (row["file"], case.d.first(), notes))
            out += [(row["file"], f, e, g) for f, e, g in case.d.items]
        else:
            passed += 1
            print("PASS %s%s" % (row["file"], notes))
        sys.stdout.flush()
    summary = "%d passed, %d failed" % (passed, failed)
    common.write_failures("test_malformed", "test_malformed.py: " + summary, out)
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
