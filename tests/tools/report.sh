#!/usr/bin/env bash
# report.sh — fcs-report end to end, checked by independent readers (Python's
# xml.etree, zlib, struct; fcs-stats and fcs-info for the numbers) and by a
# real headless browser (Debian's chromium):
#   * the page is well-formed XML (XHTML), and so is every inline <svg>
#     taken out of it on its own; it refers to nothing outside itself (no
#     script, link, external src/href/url(); the only URIs are XML
#     namespace names); ids are unique;
#   * the grid holds exactly the panels the gating hierarchy asks for (the
#     list below, by hand from the rules of fcs/report.h), in order;
#   * every count, % parent, % total and cells/uL in the tables, and every
#     "ID N (P%)" label on the plots, is what fcs-stats -g reports for the
#     same files; the key keywords are fcs-info's; reader warnings listed;
#   * a cohort page (three time points) has its cohort table and a section
#     per sample; standard input works; usage errors exit 2, input errors
#     exit 1 with one line "fcs-report: FILE: message"; -o replaces a file
#     only on success;
#   * chromium loads the page with no console message and no network request
#     made by the page (its net log), its DOM has every panel, and the
#     screenshot (1400x2000) is a real picture (the plots' viridis colours).
#     Two control pages (a script error, an external image) prove that
#     both detectors see what they look for.
# The browser part needs /usr/bin/chromium: without it the test ends with
# exit 77 (skip) after the other checks. Env (set by CTest): FCS_BIN, FCS_TMP.
set -euo pipefail
: "${FCS_BIN:?}"
for t in fcs-report fcs-synth fcs-stats fcs-info; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/report.XXXXXX")
trap 'rm -rf "$W"' EXIT
REPORT="$FCS_BIN/fcs-report" SYNTH="$FCS_BIN/fcs-synth" STATS="$FCS_BIN/fcs-stats"
INFO="$FCS_BIN/fcs-info"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# The default strategy of sample_data/ (a copy, so that this test's panel
# list stays right whatever that file becomes).
cat >"$W/strategy.txt" <<'EOF'
transform L = logicle(T=262144, W=0.5, M=4.5, A=0)
Time: rectangle Time [0, )
  Beads: rectangle L(PE-A@FCS) [0.75, ), L(BV421-A@FCS) [0.75, )
  Singlets: polygon FSC-A, FSC-H [(0, 0), (262144, 209715), (262144, 262144), (0, 262144)]
    Live: rectangle L(BV510-A@FCS) [, 0.5)
      Leukocytes: rectangle L(PerCP-Cy5.5-A@FCS) [0.45, ), FSC-A [30000, )
        Granulocytes: rectangle SSC-A [60000, ), L(BV605-A@FCS) [, 0.5)
        Monocytes: rectangle SSC-A [25000, 80000), L(BV605-A@FCS) [0.55, )
        Lymphocytes: rectangle L(PerCP-Cy5.5-A@FCS) [0.6, ), FSC-A [35000, 90000), SSC-A [, 28000)
          T: rectangle L(APC-H7-A@FCS) [0.45, )
            CD4: rectangle L(BV421-A@FCS) [0.45, ), L(APC-A@FCS) [, 0.45)
            CD8: rectangle L(APC-A@FCS) [0.45, ), L(BV421-A@FCS) [, 0.45)
            CAR+: rectangle L(FITC-A@FCS) [0.36, )
              CAR+CD4: rectangle L(BV421-A@FCS) [0.45, ), L(APC-A@FCS) [, 0.45)
              CAR+CD8: rectangle L(APC-A@FCS) [0.45, ), L(BV421-A@FCS) [, 0.45)
          B: rectangle L(APC-H7-A@FCS) [, 0.4), L(PE-Cy7-A@FCS) [0.38, )
            CD20+: rectangle L(PE-A@FCS) [0.5, )
          NK: rectangle L(APC-H7-A@FCS) [, 0.4), L(BV711-A@FCS) [0.4, )
EOF
printf 'lot = TEST-LOT\nbeads_per_test = 51800\nvolume_ul = 50\n' >"$W/beads.txt"
# The panels, by hand: each population's child gates grouped by their
# dimensions (CD4 and CD8 on BV421 x APC share one, swapped; so do
# Granulocytes and Monocytes, CAR+CD4 and CAR+CD8); the 3-D Lymphocytes
# rectangle gives two (PerCP x FSC-A, then SSC-A alone); parents in tree order.
cat >"$W/panels.txt" <<'EOF'
/	Time
/Time	Beads
/Time	Singlets
/Time/Singlets	Live
/Time/Singlets/Live	Leukocytes
/Time/Singlets/Live/Leukocytes	Granulocytes Monocytes
/Time/Singlets/Live/Leukocytes	Lymphocytes
/Time/Singlets/Live/Leukocytes	Lymphocytes
/Time/Singlets/Live/Leukocytes/Lymphocytes	T
/Time/Singlets/Live/Leukocytes/Lymphocytes	B
/Time/Singlets/Live/Leukocytes/Lymphocytes	NK
/Time/Singlets/Live/Leukocytes/Lymphocytes/T	CD4 CD8
/Time/Singlets/Live/Leukocytes/Lymphocytes/T	CAR+
/Time/Singlets/Live/Leukocytes/Lymphocytes/T/CAR+	CAR+CD4 CAR+CD8
/Time/Singlets/Live/Leukocytes/Lymphocytes/B	CD20+
EOF

# Three time points of the synthetic CAR-T patient (fcs-synth presets).
for p in baseline day14 day90; do
    "$SYNTH" --preset $p --seed 5 -n 6000 --no-version -o "$W/$p.fcs"
done

cat >"$W/check.py" <<'EOF'
"""Independent checks of an fcs-report page."""
import json, re, struct, sys, zlib
import xml.etree.ElementTree as ET

XH = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"

def fail(msg):
    raise SystemExit("FAIL: " + msg)

def page(path):
    text = open(path, encoding="utf-8").read()
    root = ET.fromstring(text)  # the whole page is XML
    if root.tag != XH + "html": fail("root is %s" % root.tag)
    return text, root

def self_contained(text, root):
    for m in re.finditer(r"https?:", text):
        before = text[max(0, m.start() - 20):m.start()]
        if not re.search(r'xmlns(:xlink)?="$', before):
            fail("a URL that is no namespace name: ..%s.." % text[m.start() - 20:m.start() + 40])
    for tag in ("script", "link", "iframe", "object", "embed", "base"):
        if list(root.iter(XH + tag)): fail("<%s> in the page" % tag)
    for el in root.iter():
        for k, v in el.attrib.items():
            name = k.split("}")[-1]
            if name in ("src", "href") and not (v.startswith("#") or v.startswith("data:")):
                fail("%s=%r refers outside the page" % (name, v))
    css = "".join(s.text or "" for s in root.iter(XH + "style"))
    if "@import" in css: fail("@import in the style sheet")
    for u in re.findall(r"url\(([^)]*)\)", text):
        if not (u.startswith("#") or u.startswith("data:")): fail("url(%s)" % u)
    ids = [el.get("id") for el in root.iter() if el.get("id")]
    if len(ids) != len(set(ids)): fail("ids repeat")

def svgs(text):
    """Every inline <svg> on its own: parsed alone, as a standalone document."""
    found = re.findall(r"<svg .*?</svg>", text, re.S)
    for s in found:
        el = ET.fromstring(s)
        if el.tag != SVG + "svg": fail("svg element %s" % el.tag)
    return found

def panels(root):
    return [(f.get("data-parent"), f.get("data-gates")) for f in root.iter(XH + "figure")
            if f.get("class") == "panel"]

def stats_tsv(path):
    """{sample: {population: {statistic: value}}} from fcs-stats --tsv."""
    out = {}
    lines = open(path).read().split("\n")
    assert lines[0].split("\t")[-1] == "value"
    for l in lines[1:]:
        if not l: continue
        f = l.split("\t")
        if f[4] != "NA": continue  # channel statistics
        v = float("nan") if f[7] == "NA" else float(f[7])
        out.setdefault(f[0], {}).setdefault(f[1], {})[f[3]] = v
    return out

def close(a, b, tol):
    if b != b: return a == "NA"
    return a != "NA" and abs(float(a) - b) <= tol

def cell(tr, cls):
    for td in tr.iter(XH + "td"):
        if cls in (td.get("class") or "").split(): return td.text
    return None

def check_stats(root, stats, files, n_labels):
    """Tables and plot labels against fcs-stats, sample by sample."""
    secs = [s for s in root.iter(XH + "section") if s.get("class") == "sample"]
    if len(secs) != len(files): fail("%d sections for %d files" % (len(secs), len(files)))
    for sec, (name, sid) in zip(secs, files):
        if sec.get("data-file") != name: fail("section for %s is %s" % (name, sec.get("data-file")))
        want = stats[sid]
        rows = [tr for t in sec.iter(XH + "table") if t.get("class") == "stats"
                for tr in t.iter(XH + "tr") if tr.get("data-population")]
        if sorted(tr.get("data-population") for tr in rows) != sorted(want):
            fail("%s: populations %s" % (name, [tr.get("data-population") for tr in rows]))
        for tr in rows:
            w = want[tr.get("data-population")]
            if int(cell(tr, "count")) != w["count"]: fail("%s count" % tr.get("data-population"))
            for cls, key, tol in (("pct-parent", "pct_parent", 0.00501),
                                  ("pct-total", "pct_total", 0.00501),
                                  ("cells-per-ul", "cells_per_ul", 0.0501)):
                if not close(cell(tr, cls), w.get(key, float("nan")), tol):
                    fail("%s %s: %s, fcs-stats %s" % (tr.get("data-population"), key,
                                                       cell(tr, cls), w.get(key)))
        by_id = {p.rsplit("/", 1)[-1]: v for p, v in want.items() if p != "/"}
        labels = 0
        for t in sec.iter(SVG + "text"):
            if t.get("class") != "gate-label": continue
            m = re.fullmatch(r"(\S+) (\d+) \((\d+\.\d|NA)%?\)", t.text or "")
            if not m: fail("label %r" % t.text)
            w = by_id[m.group(1)]
            if int(m.group(2)) != w["count"]: fail("label %r: fcs-stats %d" % (t.text, w["count"]))
            if m.group(3) != "NA" and abs(float(m.group(3)) - w["pct_parent"]) > 0.0501:
                fail("label %r: %% parent %s" % (t.text, w["pct_parent"]))
            labels += 1
        # one label per gate and panel it is drawn on (Lymphocytes: two panels)
        if labels != n_labels: fail("%s: %d gate labels, want %d" % (name, labels, n_labels))

def check_keywords(root, info_json):
    info = [json.loads(l) for l in open(info_json) if l.strip()]
    for sec, inf in zip([s for s in root.iter(XH + "section") if s.get("class") == "sample"], info):
        kw = inf["datasets"][0]["keywords"]
        got = {}
        for t in sec.iter(XH + "table"):
            if t.get("class") != "keywords": continue
            for tr in t.iter(XH + "tr"):
                tds = list(tr.iter(XH + "td"))
                if tds: got[tds[0].text] = tds[1].text
        for k in ("$CYT", "$DATE", "$BTIM", "$ETIM", "$TOT"):  # absent in both, or equal
            if got.get(k) != kw.get(k): fail("%s: %r, fcs-info %r" % (k, got.get(k), kw.get(k)))
        if not all(k in got for k in ("$CYT", "$DATE", "$TOT")): fail("key keywords missing")
        if not (got.get("$SPILLOVER") or "").startswith("present: 10 x 10"):
            fail("$SPILLOVER: %r" % got.get("$SPILLOVER"))
        lib = [k for k in kw if k.upper().startswith("LIBFCS_")]
        if not lib or any(got.get(k) != kw[k] for k in lib): fail("LIBFCS_* keywords")

def png(path):
    """Width, height and the RGB(A) rows of a PNG, every CRC checked."""
    b = open(path, "rb").read()
    if b[:8] != b"\x89PNG\r\n\x1a\n": fail("no PNG signature")
    at, idat, ihdr = 8, b"", None
    while at < len(b):
        n, = struct.unpack(">I", b[at:at + 4])
        typ, data = b[at + 4:at + 8], b[at + 8:at + 8 + n]
        if zlib.crc32(typ + data) != struct.unpack(">I", b[at + 8 + n:at + 12 + n])[0]:
            fail("PNG CRC of %r" % typ)
        if typ == b"IHDR": ihdr = struct.unpack(">IIBBBBB", data)
        if typ == b"IDAT": idat += data
        at += 12 + n
    w, h, depth, color = ihdr[:4]
    if depth != 8 or color not in (2, 6): fail("PNG type %d/%d" % (depth, color))
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    prev, rows = bytearray(stride), []
    for y in range(h):
        f = raw[y * (stride + 1)]
        cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride): cur[i] = (cur[i] + cur[i - bpp]) & 255
        elif f == 2:
            for i in range(stride): cur[i] = (cur[i] + prev[i]) & 255
        elif f == 3:
            for i in range(stride):
                cur[i] = (cur[i] + ((cur[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                c = prev[i - bpp] if i >= bpp else 0
                p = a + prev[i] - c
                pa, pb, pc = abs(p - a), abs(p - prev[i]), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else prev[i] if pb <= pc else c)) & 255
        rows.append(cur)
        prev = cur
    return w, h, bpp, rows

def main():
    cmd = sys.argv[1]
    if cmd == "page":  # page.html panels.txt copies stats.tsv info.jsonl name=id...
        text, root = page(sys.argv[2])
        self_contained(text, root)
        got = panels(root)
        want = [tuple(l.split("\t")) for l in open(sys.argv[3]).read().split("\n") if l]
        copies = int(sys.argv[4])
        if got != want * copies: fail("panels %s" % got)
        if len(svgs(text)) != len(want) * copies: fail("inline svg count")
        files = [a.split("=", 1) for a in sys.argv[7:]]
        check_stats(root, stats_tsv(sys.argv[5]), files, sum(len(g.split()) for _, g in want))
        check_keywords(root, sys.argv[6])
        cohort = [t for t in root.iter(XH + "table") if t.get("class") == "cohort"]
        if (len(cohort) == 1) != (copies > 1): fail("cohort table")
        if cohort:
            rows = [tr for tr in cohort[0].iter(XH + "tr") if tr.get("data-population")]
            if len(rows) != 18: fail("cohort rows %d" % len(rows))
            heads = [a.text for a in cohort[0].iter(XH + "a")]
            if heads != [n.rsplit("/", 1)[-1] for n, _ in files]: fail("cohort columns %s" % heads)
    elif cmd == "warnings":  # page.html info.jsonl
        _, root = page(sys.argv[2])
        info = json.loads(open(sys.argv[3]).readline())
        want = info["datasets"][0]["warnings"]
        got = [li.text for li in root.iter(XH + "li") if li.get("class") == "warning"]
        if not want or got != want: fail("warnings %s, fcs-info %s" % (got, want))
    elif cmd == "dom":  # dump.html n_panels: the DOM chromium built (HTML serialisation)
        dom = open(sys.argv[2], encoding="utf-8").read()
        n = len(re.findall(r'<figure class="panel"', dom))
        s = len(re.findall(r"<svg ", dom))
        if n != int(sys.argv[3]) or s != n: fail("DOM: %d panels, %d svg" % (n, s))
    elif cmd == "netlog":  # net.json: requests made on behalf of file:// pages
        d = json.load(open(sys.argv[2]))
        names = {v: k for k, v in d["constants"]["logEventTypes"].items()}
        urls = sorted({e["params"].get("url") for e in d["events"]
                       if names.get(e["type"]) == "URL_REQUEST_START_JOB"
                       and "file://" in str(e.get("params", {}).get("network_isolation_key", ""))})
        print("\n".join(u for u in urls if u))
    elif cmd == "shot":  # shot.png W H
        w, h, bpp, rows = png(sys.argv[2])
        if (w, h) != (int(sys.argv[3]), int(sys.argv[4])): fail("screenshot %dx%d" % (w, h))
        colours, viridis = set(), 0
        for r in rows[::2]:
            for i in range(0, w * bpp, bpp * 2):
                px = (r[i], r[i + 1], r[i + 2])
                colours.add(px)
                # the density colour map runs from (68, 1, 84) to (253, 231, 37)
                if px[2] > px[0] + 20 and px[1] > px[0] and px[0] < 80: viridis += 1
        if len(colours) < 200 or viridis < 500:
            fail("screenshot looks empty: %d colours, %d density pixels" % (len(colours), viridis))
        print("screenshot %dx%d: %d colours, %d density pixels (sampled)" % (w, h, len(colours), viridis))
    else:
        fail("unknown check " + cmd)

main()
EOF
PY() { python3 "$W/check.py" "$@"; }

# ---- one sample ------------------------------------------------------------------------
S="$W/strategy.txt"
B=(--beads /Time/Beads --bead-lot "$W/beads.txt")
"$REPORT" -g "$S" "${B[@]}" "$W/day14.fcs" -o "$W/one.html" || bad "fcs-report one sample"
"$STATS" -g "$S" "${B[@]}" --sample-id day14 "$W/day14.fcs" >"$W/one.tsv"
"$INFO" --json "$W/day14.fcs" >"$W/one.jsonl"
PY page "$W/one.html" "$W/panels.txt" 1 "$W/one.tsv" "$W/one.jsonl" "$W/day14.fcs=day14" ||
    bad "one-sample page"

# ---- a cohort: three time points -----------------------------------------------------
"$REPORT" -g "$S" "${B[@]}" --title "P01 time course" "$W/baseline.fcs" "$W/day14.fcs" \
    "$W/day90.fcs" -o "$W/cohort.html" || bad "fcs-report cohort"
: >"$W/cohort.tsv"
: >"$W/cohort.jsonl"
for p in baseline day14 day90; do
    "$STATS" -g "$S" "${B[@]}" --sample-id $p "$W/$p.fcs" >>"$W/cohort.tsv"
    "$INFO" --json "$W/$p.fcs" >>"$W/cohort.jsonl"
done
PY page "$W/cohort.html" "$W/panels.txt" 3 "$W/cohort.tsv" "$W/cohort.jsonl" \
    "$W/baseline.fcs=baseline" "$W/day14.fcs=day14" "$W/day90.fcs=day90" || bad "cohort page"
grep -q '<title>P01 time course</title>' "$W/cohort.html" || bad "--title"

# Beads from the file's own keywords (fcs-synth writes LIBFCS_BEADS_PER_TEST): the same numbers.
"$REPORT" -g "$S" --beads Beads "$W/day14.fcs" >"$W/kw.html" || bad "--beads ID, lot from keywords"
"$STATS" -g "$S" --beads /Time/Beads --sample-id day14 "$W/day14.fcs" >"$W/kw.tsv"
PY page "$W/kw.html" "$W/panels.txt" 1 "$W/kw.tsv" "$W/one.jsonl" "$W/day14.fcs=day14" ||
    bad "beads from keywords"

# Standard input.
"$REPORT" -g "$S" - <"$W/day14.fcs" >"$W/stdin.html" || bad "stdin"
grep -q 'data-file="&lt;stdin&gt;"' "$W/stdin.html" || bad "stdin section name"

# A file the reader has to repair: its warning is on the page (as fcs-info says it).
python3 - "$W/day14.fcs" "$W/repaired.fcs" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
end = int(b[34:42])
b[34:42] = b"%8d" % (end + 1)  # HEADER DATA end one past $ENDDATA
open(sys.argv[2], "wb").write(b)
EOF
"$REPORT" -g "$S" "$W/repaired.fcs" -o "$W/warn.html" 2>"$W/warn.err" || bad "repaired file"
grep -q "warning:" "$W/warn.err" || bad "warning not on stderr"
"$INFO" --json "$W/repaired.fcs" >"$W/warn.jsonl"
PY warnings "$W/warn.html" "$W/warn.jsonl" || bad "warnings on the page"
"$REPORT" --strict -g "$S" "$W/repaired.fcs" >/dev/null 2>&1 && bad "--strict accepted a repair"

# The strategy of sample_data/ itself, if present: the page is made and well-formed.
if [ -n "${FCS_SRC:-}" ] && [ -f "$FCS_SRC/sample_data/strategy.txt" ]; then
    "$REPORT" -g "$FCS_SRC/sample_data/strategy.txt" "$W/day90.fcs" -o "$W/sd.html" ||
        bad "sample_data/strategy.txt"
    python3 -c "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])" "$W/sd.html" ||
        bad "sample_data page not well-formed"
fi

# ---- errors ------------------------------------------------------------------------------
expect() { # expect CODE ARGS...: exit code, and one line "fcs-report: ..." for input errors
    local want=$1; shift
    set +e
    "$REPORT" "$@" >"$W/out" 2>"$W/err"
    local rc=$?
    set -e
    [ $rc -eq "$want" ] || bad "exit $rc (want $want): $*"
    if [ "$want" = 1 ]; then
        [ "$(wc -l <"$W/err")" -eq 1 ] && grep -q '^fcs-report: ' "$W/err" ||
            bad "error message of $*: $(cat "$W/err")"
    fi
}
expect 2 "$W/day14.fcs"                                   # no -g
expect 2 -g "$S" --bead-lot "$W/beads.txt" "$W/day14.fcs" # lot without --beads
expect 2 -g "$S" --bins 1 "$W/day14.fcs"
expect 2 -g "$S" --size 10x10 "$W/day14.fcs"
expect 2 -g - -                                           # stdin twice
expect 2 --no-such-option
expect 1 -g "$S" "$W/none.fcs"
grep -q "none.fcs" "$W/err" || bad "missing file not named"
expect 1 -g "$W/none.txt" "$W/day14.fcs"
expect 1 -g "$S" --beads /Nope "$W/day14.fcs"
grep -q "/Nope" "$W/err" || bad "unknown bead population not named"
echo 'X: rectangle NoSuchChannel [0, 1)' >"$W/missing.txt"
expect 1 -g "$W/missing.txt" "$W/day14.fcs"
grep -q "NoSuchChannel" "$W/err" || bad "missing channel not named"
# -o: a failed run leaves an existing file as it was, and no temporary file.
echo keep >"$W/keep.html"
expect 1 -g "$W/missing.txt" "$W/day14.fcs" -o "$W/keep.html"
[ "$(cat "$W/keep.html")" = keep ] || bad "-o damaged by a failed run"
ls "$W" | grep -q 'keep.html.tmp' && bad "temporary file left"
expect 1 -g "$S" "$W/day14.fcs" -o "$W/day14.fcs" # the output is an input
"$REPORT" --help | grep -q -- '--bead-lot' || bad "--help"
"$REPORT" --version | grep -q 'libfcs' || bad "--version"

# ---- a real browser -----------------------------------------------------------------------
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
    [ $fail -eq 0 ] || exit 1
    echo "SKIP (browser part): $CHROMIUM not found: install the Debian package chromium" \
        "(apt-get install -y chromium) to load the page in a headless browser"
    exit 77
fi
browse() { # browse PAGE OUT MODE...: one headless run; stdout to OUT, stderr to OUT.err
    local page=$1 out=$2; shift 2
    local prof
    prof=$(mktemp -d "$W/profile.XXXXXX")
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$prof" --enable-logging=stderr --v=0 --log-net-log="$out.net" \
        "$@" "file://$page" >"$out" 2>"$out.err"
}
console() { grep -E ':CONSOLE|Uncaught|Failed to load resource|net::ERR' "$1" || true; }

# Controls: a page with a script error and external resources must be seen as one.
cat >"$W/control.html" <<'EOF'
<!DOCTYPE html><html><head><title>control</title></head><body><p>control</p>
<img src="http://example.invalid/x.png" alt=""/><script>no_such_function();</script></body></html>
EOF
browse "$W/control.html" "$W/control.dom" --dump-dom || bad "chromium failed on the control page"
[ -n "$(console "$W/control.dom.err")" ] || bad "the console check does not see a script error"
PY netlog "$W/control.dom.net" | grep -q 'example.invalid' ||
    bad "the net-log check does not see a request of the page"

# The cohort page: no console message, no request, every panel in the DOM.
browse "$W/cohort.html" "$W/cohort.dom" --dump-dom || bad "chromium --dump-dom failed"
msgs=$(console "$W/cohort.dom.err")
[ -z "$msgs" ] || bad "console messages: $msgs"
reqs=$(PY netlog "$W/cohort.dom.net")
[ -z "$reqs" ] || bad "the page made requests: $reqs"
PY dom "$W/cohort.dom" 45 || bad "DOM"
grep -q '<title>P01 time course</title>' "$W/cohort.dom" || bad "DOM title"

# A screenshot: 1400 x 2000, with the plots in it.
browse "$W/cohort.html" "$W/shot.out" --screenshot="$W/shot.png" --window-size=1400,2000 ||
    bad "chromium --screenshot failed"
[ -s "$W/shot.png" ] || bad "no screenshot"
[ -s "$W/shot.png" ] && { PY shot "$W/shot.png" 1400 2000 || bad "screenshot"; }
msgs=$(console "$W/shot.out.err")
[ -z "$msgs" ] || bad "console messages while taking the screenshot: $msgs"

[ $fail -eq 0 ] && echo "report.sh: all checks passed"
exit $fail
