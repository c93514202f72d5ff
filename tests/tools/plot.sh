#!/usr/bin/env bash
# plot.sh — fcs-plot end to end, every number checked by an independent
# reading in Python (xml.etree, zlib, struct; no libfcs involved):
#   * SVG is well-formed XML; the embedded density PNG has valid chunks and
#     CRCs, and its pixels are exactly the density levels of the 2-D
#     histogram Python computes from fcs-export's values (bin rule, log
#     colour rule of fcs/plot.h);
#   * gates of a Gating-ML strategy (polygon, rectangle, quadrants, ellipse,
#     1-D range under logicle) are drawn under the right population with
#     "name count (pct%)" equal to the counts Python finds from the events
#     (logicle by bisection on the Gating-ML 2.0 formula);
#   * PNG output (-f png, -o x.png): signature, IHDR, chunk CRCs, IEND,
#     pixels inflate and unfilter to the announced size;
#   * scales: -t, and LIBFCS_PnTRANSFORM of an fcs-xform stream (ticks at
#     decades, axis labelled); 1-D histograms; a pipe of 300000 events;
#   * a gated stream (POP:<path> parameters) without -g: -p selects the
#     population and its ancestors;
#   * usage errors exit 2, input errors exit 1 with one line
#     "fcs-plot: FILE: message", -o replaces a file only on success.
# Env (set by CTest): FCS_BIN, FCS_TMP.
set -euo pipefail
# logicle_ref.py (the shared independent logicle reference) sits beside this script.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
: "${FCS_BIN:?}"
for t in fcs-plot fcs-synth fcs-export fcs-cat fcs-xform; do
    [ -x "$FCS_BIN/$t" ] || { echo "SKIP: $FCS_BIN/$t not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
mkdir -p "${FCS_TMP:-/tmp}"
W=$(mktemp -d "${FCS_TMP:-/tmp}/plot.XXXXXX")
trap 'rm -rf "$W"' EXIT
PLOT="$FCS_BIN/fcs-plot" SYNTH="$FCS_BIN/fcs-synth" EXPORT="$FCS_BIN/fcs-export"
CAT="$FCS_BIN/fcs-cat" XFORM="$FCS_BIN/fcs-xform"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
LGC='logicle(T=262144,W=0.5,M=4.5,A=0)'

cat >"$W/check.py" <<'EOF'
"""Independent checks of fcs-plot output."""
import base64, math, re, struct, sys, zlib
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"

def png_decode(b):
    """(width, height, colour type, palette, rows of bytes); checks every CRC."""
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    at, idat, ihdr, plte, chunks = 8, b"", None, b"", []
    while at < len(b):
        n, = struct.unpack(">I", b[at:at + 4])
        typ, data = b[at + 4:at + 8], b[at + 8:at + 8 + n]
        crc, = struct.unpack(">I", b[at + 8 + n:at + 12 + n])
        assert zlib.crc32(typ + data) == crc, "CRC of %r" % typ
        chunks.append(typ)
        if typ == b"IHDR": ihdr = struct.unpack(">IIBBBBB", data)
        elif typ == b"PLTE": plte = data
        elif typ == b"IDAT": idat += data
        at += 12 + n
    assert at == len(b) and chunks[0] == b"IHDR" and chunks[-1] == b"IEND", chunks
    w, h, depth, color = ihdr[:4]
    assert depth == 8 and ihdr[4:] == (0, 0, 0)
    bpp = {0: 1, 2: 3, 3: 1, 6: 4}[color]
    raw, row, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    assert len(raw) == (row + 1) * h, "IDAT size"
    for y in range(h):
        f, src = raw[y * (row + 1)], raw[y * (row + 1) + 1:(y + 1) * (row + 1)]
        cur = bytearray(row)
        for i in range(row):
            a = cur[i - bpp] if i >= bpp else 0
            c = prev[i - bpp] if i >= bpp else 0
            p = [0, a, prev[i], (a + prev[i]) // 2, None][f]
            if f == 4:
                q = a + prev[i] - c
                pa, pb, pc = abs(q - a), abs(q - prev[i]), abs(q - c)
                p = a if pa <= pb and pa <= pc else (prev[i] if pb <= pc else c)
            cur[i] = (src[i] + p) & 255
        rows.append(bytes(cur))
        prev = cur
    return w, h, color, plte, rows

def svg(path):
    return ET.parse(path).getroot()

def text_of(t):
    """Text of a <text>, a superscript <tspan> written as ^exponent (10^3)."""
    sup = "".join("^" + (s.text or "") for s in t)
    return (t.text or "") + sup

def texts(root, cls):
    return [text_of(t) for t in root.iter(SVG + "text") if t.get("class") == cls]

def density(root):
    img = [i for i in root.iter(SVG + "image") if i.get("class") == "density"]
    assert len(img) == 1, "one density image"
    href = img[0].get(XLINK)
    assert href.startswith("data:image/png;base64,")
    return png_decode(base64.b64decode(href[22:]))

def read_tsv(path):
    lines = open(path).read().split("\n")
    names = lines[0].split("\t")
    return names, [[float(v) for v in l.split("\t")] for l in lines[1:] if l]

def bin_of(v, lo, hi, n):
    """fcs/plot.h: floor((v - lo) / (hi - lo) * n), hi in the last bin, off scale clamped."""
    if v < lo: return 0
    if v >= hi: return n - 1
    return min(n - 1, int(math.floor((v - lo) / (hi - lo) * n)))

def level(c, m):
    if c == 0: return 0
    f = 1.0 if m == 1 else math.log(c) / math.log(m)
    return 1 + int(math.floor(254 * f + 0.5))

def check_density(svgfile, tsv, xcol, ycol, xr, yr, n, keep=None):
    names, rows = read_tsv(tsv)
    xi, yi = names.index(xcol), names.index(ycol)
    counts = [[0] * n for _ in range(n)]
    for k, r in enumerate(rows):
        if keep and not keep(r, names): continue
        counts[bin_of(r[yi], yr[0], yr[1], n)][bin_of(r[xi], xr[0], xr[1], n)] += 1
    m = max(max(c) for c in counts)
    w, h, color, plte, pix = density(svg(svgfile))
    assert (w, h, color) == (n, n, 3), (w, h, color)
    for iy in range(n):
        want = bytes(level(c, m) for c in counts[iy])
        assert pix[n - 1 - iy] == want, "density row %d differs" % iy
    return sum(map(sum, counts))

from logicle_ref import Logicle  # tests/tools/logicle_ref.py

def in_polygon(px, py, v):
    """Even-odd rule, points on an edge inside (as gate.h)."""
    n, inside = len(v), False
    for i in range(n):
        (ax, ay), (bx, by) = v[i], v[(i + 1) % n]
        if (py - ay) * (bx - ax) == (px - ax) * (by - ay) and min(ax, bx) <= px <= max(ax, bx) \
                and min(ay, by) <= py <= max(ay, by):
            return True
        if (ay > py) != (by > py) and px < ax + (py - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside

def label(name, n, parent):
    return "%s %d (%s)" % (name, n, "NA" if parent == 0 else "%.1f%%" % (100.0 * n / parent))

def main():
    cmd = sys.argv[1]
    if cmd == "density":
        f, tsv, xc, yc, lo1, hi1, lo2, hi2, n = sys.argv[2:11]
        check_density(f, tsv, xc, yc, (float(lo1), float(hi1)), (float(lo2), float(hi2)), int(n))
    elif cmd == "png":
        w, h, color, _, rows = png_decode(open(sys.argv[2], "rb").read())
        assert (w, h, color) == (int(sys.argv[3]), int(sys.argv[4]), 2), (w, h, color)
        assert rows[0][:3] == b"\xff\xff\xff", "white background"
    elif cmd == "gates":
        names, rows = read_tsv(sys.argv[3])
        L = Logicle(262144, 0.5, 4.5, 0)
        col = {n: i for i, n in enumerate(names)}
        lymph_v = [(38000, 4000), (78000, 4000), (82000, 32000), (40000, 30000)]
        lymph = [r for r in rows if in_polygon(r[col["FSC-A"]], r[col["SSC-A"]], lymph_v)]
        big = [r for r in rows if r[col["FSC-A"]] >= 85000 and 70000 <= r[col["SSC-A"]] < 200000]
        cd3 = lambda r: L(r[col["FITC-A"]])
        cd19 = lambda r: L(r[col["PE-A"]])
        quad = {"T": [r for r in lymph if cd3(r) >= 0.45 and cd19(r) < 0.45],
                "B": [r for r in lymph if cd3(r) < 0.45 and cd19(r) >= 0.45],
                "DN": [r for r in lymph if cd3(r) < 0.45 and cd19(r) < 0.45],
                "DP": [r for r in lymph if cd3(r) >= 0.45 and cd19(r) >= 0.45]}
        ci = [[3 / 0.011, -1 / 0.011], [-1 / 0.011, 4 / 0.011]]  # inverse of [[.004,.001],[.001,.003]]
        def ell(r):
            dx, dy = cd3(r) - 0.7, cd19(r) - 0.2
            return dx * (ci[0][0] * dx + ci[0][1] * dy) + dy * (ci[1][0] * dx + ci[1][1] * dy) <= 4
        tell = [r for r in lymph if ell(r)]
        cd4hi = [r for r in quad["T"] if L(r[col["APC-A"]]) >= 0.5]
        which = sys.argv[4]
        if which == "root":
            want = {label("Lymph", len(lymph), len(rows)), label("Big", len(big), len(rows))}
            title = "s.fcs: all %d events" % len(rows)
        elif which == "Lymph":
            want = {label(k, len(v), len(lymph)) for k, v in quad.items()}
            want.add(label("Tell", len(tell), len(lymph)))
            title = "s.fcs: /Lymph (%d events)" % len(lymph)
        else:
            want = {label("CD4hi", len(cd4hi), len(quad["T"]))}
            title = "s.fcs: /Lymph/T (%d events)" % len(quad["T"])  # a quadrant's parent: its gate's
        root = svg(sys.argv[2])
        got = set(texts(root, "gate-label"))
        assert got == want, "labels %s, expected %s" % (sorted(got), sorted(want))
        assert texts(root, "title") == [title], (texts(root, "title"), title)
        if which == "Lymph":  # the plotted events are those of Lymph, on logicle axes
            keep = lambda r, names: in_polygon(r[col["FSC-A"]], r[col["SSC-A"]], lymph_v)
            xs = [[L(r[col["FITC-A"]]), L(r[col["PE-A"]])] for r in lymph]
            names2 = ["x", "y"]
            with open(sys.argv[3] + ".lgc", "w") as f:
                f.write("x\ty\n" + "".join("%r\t%r\n" % tuple(v) for v in xs))
            check_density(sys.argv[2], sys.argv[3] + ".lgc", "x", "y", (0, 1), (0, 1), 256)
        print(len(rows), len(lymph), len(big), {k: len(v) for k, v in quad.items()}, len(tell), len(cd4hi))
    elif cmd == "ticks":
        root = svg(sys.argv[2])
        want = sys.argv[3].split(",")
        got = texts(root, "tick-label")
        for w in want:
            assert w in got, "tick %r not in %s" % (w, got)
        for t in sys.argv[4:]:
            assert t in texts(root, "axis-title"), (t, texts(root, "axis-title"))
    elif cmd == "hist":
        root = svg(sys.argv[2])
        paths = [p for p in root.iter(SVG + "path") if p.get("class") == "histogram"]
        assert len(paths) == 1
        assert not [i for i in root.iter(SVG + "image") if i.get("class") == "density"]
        assert "events" in texts(root, "axis-title")
    elif cmd == "title":
        assert texts(svg(sys.argv[2]), "title") == [sys.argv[3]], texts(svg(sys.argv[2]), "title")
    elif cmd == "gated-stream":
        # FSC-A, SSC-A, POP:/A, POP:/A/B; B's column set on one event outside A.
        rows = []
        for i in range(200):
            a = 1.0 if i % 2 == 0 else 0.0
            b = 1.0 if i % 4 == 0 else 0.0
            rows.append((1000.0 * i, 500.0 * i, a, b))
        rows.append((7777.0, 7777.0, 0.0, 1.0))  # in B's column only: not in /A/B
        names = ["FSC-A", "SSC-A", "POP:/A", "POP:/A/B"]
        data = b"".join(struct.pack("<4f", *r) for r in rows)
        kw = [("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "F"), ("$MODE", "L"), ("$NEXTDATA", "0"),
              ("$PAR", "4"), ("$TOT", str(len(rows)))]
        for i, n in enumerate(names, 1):
            kw += [("$P%dN" % i, n), ("$P%dB" % i, "32"), ("$P%dR" % i, "262144" if i < 3 else "2")]
        db = 0
        for _ in range(4):  # '|' delimits: the names hold '/'
            text = "|" + "".join("%s|%s|" % kv for kv in
                                 [("$BEGINANALYSIS", "0"), ("$ENDANALYSIS", "0"), ("$BEGINSTEXT", "0"),
                                  ("$ENDSTEXT", "0"), ("$BEGINDATA", str(db)),
                                  ("$ENDDATA", str(db + len(data) - 1))] + kw)
            db = 58 + len(text)
        hdr = b"FCS3.1    " + b"".join(b"%8d" % v for v in (58, 58 + len(text) - 1, db, db + len(data) - 1, 0, 0))
        open(sys.argv[2], "wb").write(hdr + text.encode() + data + b"00000000")
        with open(sys.argv[2] + ".tsv", "w") as f:
            f.write("\t".join(names) + "\n" + "".join("\t".join(repr(v) for v in r) + "\n" for r in rows))
    elif cmd == "spill":
        # FL1, FL2 with $SPILLOVER S = [[1, .2], [.1, 1]]: compensated t = o S^-1.
        import random
        rnd = random.Random(11)
        rows = [(rnd.uniform(0, 1000), rnd.uniform(0, 1000)) for _ in range(3000)]
        data = b"".join(struct.pack("<2f", *r) for r in rows)
        kw = [("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "F"), ("$MODE", "L"), ("$NEXTDATA", "0"),
              ("$PAR", "2"), ("$TOT", str(len(rows))), ("$SPILLOVER", "2,FL1,FL2,1,0.2,0.1,1")]
        for i, n in enumerate(["FL1", "FL2"], 1):
            kw += [("$P%dN" % i, n), ("$P%dB" % i, "32"), ("$P%dR" % i, "1024")]
        db = 0
        for _ in range(4):
            text = "/" + "".join("%s/%s/" % kv for kv in
                                 [("$BEGINANALYSIS", "0"), ("$ENDANALYSIS", "0"), ("$BEGINSTEXT", "0"),
                                  ("$ENDSTEXT", "0"), ("$BEGINDATA", str(db)),
                                  ("$ENDDATA", str(db + len(data) - 1))] + kw)
            db = 58 + len(text)
        hdr = b"FCS3.1    " + b"".join(b"%8d" % v for v in (58, 58 + len(text) - 1, db, db + len(data) - 1, 0, 0))
        open(sys.argv[2], "wb").write(hdr + text.encode() + data + b"00000000")
        f32 = lambda v: struct.unpack("<f", struct.pack("<f", v))[0]
        comp = []
        for o1, o2 in rows:
            o1, o2 = f32(o1), f32(o2)
            comp.append(((o1 - 0.1 * o2) / 0.98, (o2 - 0.2 * o1) / 0.98))
        with open(sys.argv[2] + ".tsv", "w") as f:
            f.write("FL1\tFL2\n" + "".join("%r\t%r\n" % c for c in comp))
        print(sum(1 for c in comp if c[0] >= 500), len(comp))
    else:
        raise SystemExit("unknown check " + cmd)

main()
EOF
PYCHECK() { python3 "$W/check.py" "$@"; }

cat >"$W/gates.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <transforms:transformation transforms:id="lgc">
    <transforms:logicle transforms:T="262144" transforms:W="0.5" transforms:M="4.5" transforms:A="0"/>
  </transforms:transformation>
  <gating:PolygonGate gating:id="Lymph">
    <gating:dimension gating:compensation-ref="uncompensated"><data-type:fcs-dimension data-type:name="FSC-A"/></gating:dimension>
    <gating:dimension gating:compensation-ref="uncompensated"><data-type:fcs-dimension data-type:name="SSC-A"/></gating:dimension>
    <gating:vertex><gating:coordinate data-type:value="38000"/><gating:coordinate data-type:value="4000"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="78000"/><gating:coordinate data-type:value="4000"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="82000"/><gating:coordinate data-type:value="32000"/></gating:vertex>
    <gating:vertex><gating:coordinate data-type:value="40000"/><gating:coordinate data-type:value="30000"/></gating:vertex>
  </gating:PolygonGate>
  <gating:RectangleGate gating:id="Big">
    <gating:dimension gating:compensation-ref="uncompensated" gating:min="85000"><data-type:fcs-dimension data-type:name="FSC-A"/></gating:dimension>
    <gating:dimension gating:compensation-ref="uncompensated" gating:min="70000" gating:max="200000"><data-type:fcs-dimension data-type:name="SSC-A"/></gating:dimension>
  </gating:RectangleGate>
  <gating:QuadrantGate gating:id="Q" gating:parent_id="Lymph">
    <gating:divider gating:id="d3" gating:compensation-ref="uncompensated" gating:transformation-ref="lgc"><data-type:fcs-dimension data-type:name="FITC-A"/><gating:value>0.45</gating:value></gating:divider>
    <gating:divider gating:id="d19" gating:compensation-ref="uncompensated" gating:transformation-ref="lgc"><data-type:fcs-dimension data-type:name="PE-A"/><gating:value>0.45</gating:value></gating:divider>
    <gating:Quadrant gating:id="T"><gating:position gating:divider_ref="d3" gating:location="0.9"/><gating:position gating:divider_ref="d19" gating:location="0.1"/></gating:Quadrant>
    <gating:Quadrant gating:id="B"><gating:position gating:divider_ref="d3" gating:location="0.1"/><gating:position gating:divider_ref="d19" gating:location="0.9"/></gating:Quadrant>
    <gating:Quadrant gating:id="DN"><gating:position gating:divider_ref="d3" gating:location="0.1"/><gating:position gating:divider_ref="d19" gating:location="0.1"/></gating:Quadrant>
    <gating:Quadrant gating:id="DP"><gating:position gating:divider_ref="d3" gating:location="0.9"/><gating:position gating:divider_ref="d19" gating:location="0.9"/></gating:Quadrant>
  </gating:QuadrantGate>
  <gating:EllipsoidGate gating:id="Tell" gating:parent_id="Lymph">
    <gating:dimension gating:compensation-ref="uncompensated" gating:transformation-ref="lgc"><data-type:fcs-dimension data-type:name="FITC-A"/></gating:dimension>
    <gating:dimension gating:compensation-ref="uncompensated" gating:transformation-ref="lgc"><data-type:fcs-dimension data-type:name="PE-A"/></gating:dimension>
    <gating:mean><gating:coordinate data-type:value="0.7"/><gating:coordinate data-type:value="0.2"/></gating:mean>
    <gating:covarianceMatrix><gating:row><gating:entry data-type:value="0.004"/><gating:entry data-type:value="0.001"/></gating:row><gating:row><gating:entry data-type:value="0.001"/><gating:entry data-type:value="0.003"/></gating:row></gating:covarianceMatrix>
    <gating:distanceSquare data-type:value="4"/>
  </gating:EllipsoidGate>
  <gating:RectangleGate gating:id="CD4hi" gating:parent_id="T">
    <gating:dimension gating:compensation-ref="uncompensated" gating:transformation-ref="lgc" gating:min="0.5"><data-type:fcs-dimension data-type:name="APC-A"/></gating:dimension>
  </gating:RectangleGate>
</gating:Gating-ML>
EOF

"$SYNTH" -n 20000 --seed 7 --no-version -o "$W/s.fcs"
"$EXPORT" "$W/s.fcs" >"$W/s.tsv"

# ---- density: bins and colour levels --------------------------------------------------
"$PLOT" -x FSC-A -y SSC-A --bins 64 -o "$W/a.svg" "$W/s.fcs" || bad "plain density plot failed"
PYCHECK density "$W/a.svg" "$W/s.tsv" FSC-A SSC-A 0 262144 0 262144 64 || bad "density bins/levels"
PYCHECK title "$W/a.svg" "s.fcs: all 20000 events" || bad "title of a plain plot"
PYCHECK ticks "$W/a.svg" "0,50000,100000,250000" "FSC-A" "SSC-A" || bad "linear ticks / axis titles"
# --xlim/--ylim in data units: bins over the given range (off-scale events on the edges).
"$PLOT" -x FSC-A -y SSC-A --bins 32 --xlim 20000:120000 --ylim -5000:60000 -o "$W/lim.svg" "$W/s.fcs" \
    || bad "--xlim/--ylim"
PYCHECK density "$W/lim.svg" "$W/s.tsv" FSC-A SSC-A 20000 120000 -5000 60000 32 || bad "bins of --xlim/--ylim"
grep -q 'events off scale, shown on the edges of the plot' "$W/lim.svg" || bad "off-scale note missing"

# ---- gates: counts and % of parent ----------------------------------------------------
"$PLOT" -g "$W/gates.xml" -o "$W/g_root.svg" "$W/s.fcs" || bad "gates at the root"
PYCHECK gates "$W/g_root.svg" "$W/s.tsv" root >/dev/null || bad "root gate labels"
"$PLOT" -g "$W/gates.xml" -p Lymph -o "$W/g_lymph.svg" "$W/s.fcs" || bad "gates under Lymph"
PYCHECK gates "$W/g_lymph.svg" "$W/s.tsv" Lymph >/dev/null || bad "Lymph gate labels / density"
# The same population by its full path, axes given explicitly (and swapped: y/x).
"$PLOT" -g "$W/gates.xml" -p /Lymph -x PE-A -y CD3 -o "$W/g_swap.svg" "$W/s.fcs" || bad "swapped axes"
n_lab=$(python3 -c "
import xml.etree.ElementTree as E
r=E.parse('$W/g_swap.svg').getroot()
print(sum(1 for t in r.iter('{http://www.w3.org/2000/svg}text') if t.get('class')=='gate-label'))")
[ "$n_lab" = 5 ] || bad "swapped axes: $n_lab gate labels, want 5 (4 quadrants + ellipse)"
"$PLOT" -g "$W/gates.xml" -p T -o "$W/g_t.svg" "$W/s.fcs" || bad "1-D gate under T"
PYCHECK gates "$W/g_t.svg" "$W/s.tsv" T >/dev/null || bad "1-D range label"
PYCHECK hist "$W/g_t.svg" || bad "1-D histogram under T"
PYCHECK ticks "$W/g_t.svg" "10^3,10^4,0" "APC-A CD4 [logicle]" || bad "logicle axis of the 1-D gate"
# Gates on other dimensions are not drawn.
"$PLOT" -g "$W/gates.xml" -x FSC-A -y FITC-A -o "$W/g_none.svg" "$W/s.fcs" || bad "plot without matching gates"
grep -q 'class="gate-label"' "$W/g_none.svg" && bad "gates drawn on dimensions they are not defined on"

# ---- the same numbers as fcs-gate | fcs-stats; the text gate format; adapted strategies ----
labels() { # the gate labels of an SVG, sorted, one per line
    python3 -c "
import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
print('\n'.join(sorted(''.join(t.itertext()) for t in r.iter('{http://www.w3.org/2000/svg}text')
                       if t.get('class') == 'gate-label')))" "$1"
}
if [ -x "$FCS_BIN/fcs-gate" ] && [ -x "$FCS_BIN/fcs-stats" ]; then
    "$FCS_BIN/fcs-gate" -g "$W/gates.xml" "$W/s.fcs" | "$FCS_BIN/fcs-stats" --tsv -s mean -c FSC-A - >"$W/stats.tsv" \
        || bad "fcs-gate | fcs-stats"
    # "name count (pct%)" of every population from the fcs-stats table; % of
    # parent printed to 0.1 as fcs-plot does (the table's value has more digits).
    python3 - "$W/stats.tsv" >"$W/stats.labels" <<'EOF'
import sys
count, pct = {}, {}
for line in open(sys.argv[1]).read().split("\n")[1:]:
    f = line.split("\t")
    if len(f) < 8: continue
    if f[3] == "count": count[f[1]] = int(f[7])
    if f[3] == "pct_parent": pct[f[1]] = float(f[7])
for path, n in count.items():
    if path != "/":
        print(path, "%s %d (%.1f%%)" % (path.rsplit("/", 1)[1], n, pct[path]))
EOF
    for pop in root Lymph; do
        svgf="$W/g_root.svg"
        [ $pop = Lymph ] && svgf="$W/g_lymph.svg"
        [ $pop = root ] && want=$(grep -E '^/[^/ ]+ ' "$W/stats.labels" | cut -d' ' -f2- | LC_ALL=C sort)
        [ $pop = Lymph ] && want=$(grep -E '^/Lymph/[^/ ]+ ' "$W/stats.labels" | cut -d' ' -f2- | LC_ALL=C sort)
        [ "$(labels "$svgf")" = "$want" ] || bad "labels under $pop differ from fcs-stats: $(labels "$svgf") vs $want"
    done
    # A gated stream (POP: parameters from fcs-gate) plotted without -g.
    "$FCS_BIN/fcs-gate" -g "$W/gates.xml" "$W/s.fcs" | "$PLOT" -x FITC-A -y PE-A -p /Lymph/T - >"$W/gst.svg" \
        || bad "plot of an fcs-gate stream"
    n_t=$(grep '^/Lymph/T ' "$W/stats.labels" | sed 's/.* T \([0-9]*\) .*/\1/')
    PYCHECK title "$W/gst.svg" "<stdin>: /Lymph/T ($n_t events)" || bad "count of /Lymph/T in a gated stream"
    # The strategy as a libfcs gate file draws the same labels.
    "$FCS_BIN/fcs-gate" --convert text -g "$W/gates.xml" -o "$W/gates.txt" || bad "--convert text"
    "$PLOT" -g "$W/gates.txt" -p Lymph -o "$W/g_text.svg" "$W/s.fcs" || bad "plot with a text gate file"
    [ "$(labels "$W/g_text.svg")" = "$(labels "$W/g_lymph.svg")" ] || bad "text gate file: other labels"
else
    echo "note: fcs-gate / fcs-stats not built: cross-checks with them skipped"
fi
# A stream that fcs-xform already put on the gates' logicle: the strategy is
# adapted (no second logicle), the counts are the same, the axes say so.
"$CAT" "$W/s.fcs" | "$XFORM" -t "$LGC:FITC-A,PE-A" | "$PLOT" -g "$W/gates.xml" -p Lymph - >"$W/g_x.svg" \
    || bad "gates on a transformed stream"
[ "$(labels "$W/g_x.svg")" = "$(labels "$W/g_lymph.svg")" ] || bad "transformed stream: other labels"
PYCHECK ticks "$W/g_x.svg" "10^3,0" "FITC-A CD3 [logicle in the stream]" || bad "transformed stream: axis"
# ... but another transform on a gate channel is refused (never applied twice).
"$CAT" "$W/s.fcs" | "$XFORM" -t "asinh(150):FITC-A" >"$W/asinh.fcs"
rc=0
"$PLOT" -g "$W/gates.xml" -p Lymph "$W/asinh.fcs" >/dev/null 2>"$W/err" || rc=$?
[ $rc = 1 ] || bad "a strategy on a differently transformed stream: exit $rc, want 1"

# Many gates on the plotted dimensions: all drawn (text gate format).
python3 -c "
for i in range(40):
    print('R%d: rectangle FSC-A [%d, %d), SSC-A [0, 50000)' % (i, 5000 * i, 5000 * i + 4000))
" >"$W/many.txt"
"$PLOT" -g "$W/many.txt" -x FSC-A -y SSC-A -o "$W/many.svg" "$W/s.fcs" || bad "40 gates"
[ "$(labels "$W/many.svg" | wc -l)" = 40 ] || bad "40 gates: $(labels "$W/many.svg" | wc -l) labels"

# ---- PNG ---------------------------------------------------------------------------------
"$PLOT" -g "$W/gates.xml" -p Lymph -o "$W/g.png" "$W/s.fcs" || bad "PNG by file name"
PYCHECK png "$W/g.png" 1200 1080 || bad "PNG structure"
"$PLOT" -x CD3 -f png --size 400x300 "$W/s.fcs" >"$W/h.png" || bad "PNG to stdout"
PYCHECK png "$W/h.png" 800 600 || bad "PNG --size"
if command -v file >/dev/null; then
    file "$W/h.png" | grep -q "PNG image data, 800 x 600" || bad "file(1) does not see a PNG: $(file "$W/h.png")"
fi

# ---- scales ------------------------------------------------------------------------------
"$PLOT" -x FITC-A -y PE-A -t "$LGC:FITC-A,CD19" -o "$W/t.svg" "$W/s.fcs" || bad "-t"
PYCHECK ticks "$W/t.svg" "10^3,10^5,0" "FITC-A CD3 [logicle]" "PE-A CD19 [logicle]" || bad "-t ticks/titles"
grep -q '<tspan dy="-0.45em" font-size="75%">3</tspan>' "$W/t.svg" || bad "no 10^3 tick"
"$CAT" "$W/s.fcs" | "$XFORM" -t "$LGC:FITC-A,PE-A" | "$PLOT" -x FITC-A -y PE-A --bins 128 - >"$W/x.svg" \
    || bad "plot of an fcs-xform stream"
"$CAT" "$W/s.fcs" | "$XFORM" -t "$LGC:FITC-A,PE-A" | "$EXPORT" - >"$W/x.tsv"
PYCHECK density "$W/x.svg" "$W/x.tsv" FITC-A PE-A 0 1 0 1 128 || bad "transformed stream plotted as is"
PYCHECK ticks "$W/x.svg" "10^3,10^4,0" "FITC-A CD3 [logicle in the stream]" || bad "stream transform labels"
PYCHECK title "$W/x.svg" "<stdin>: all 20000 events" || bad "title of stdin"
"$PLOT" -x SSC-A "$W/s.fcs" >"$W/h.svg" || bad "1-D histogram"
PYCHECK hist "$W/h.svg" || bad "histogram structure"

# ---- many events through a pipe ------------------------------------------------------------
start=$(date +%s)
"$SYNTH" -n 300000 --seed 3 | "$PLOT" -x FSC-A -y SSC-A - >"$W/big.svg" || bad "300000 events in a pipe"
PYCHECK title "$W/big.svg" "<stdin>: all 300000 events" || bad "count of the pipe"
echo "300000 events through a pipe: $(( $(date +%s) - start )) s"

# ---- a gated stream without -g ----------------------------------------------------------------
PYCHECK gated-stream "$W/gated.fcs"
"$PLOT" -x FSC-A -y SSC-A -p B --bins 16 -o "$W/gs.svg" "$W/gated.fcs" || bad "-p on a gated stream"
PYCHECK title "$W/gs.svg" "gated.fcs: /A/B (50 events)" || bad "stream population count"
python3 -c "
src = open('$W/check.py').read().replace('\nmain()\n', '\n')
exec(src)
check_density('$W/gs.svg', '$W/gated.fcs.tsv', 'FSC-A', 'SSC-A', (0, 262144), (0, 262144), 16,
              keep=lambda r, n: r[2] >= 0.5 and r[3] >= 0.5)
" || bad "stream population density"
"$PLOT" -x FSC-A -p /A "$W/gated.fcs" >"$W/gs1.svg" || bad "-p /A"
PYCHECK title "$W/gs1.svg" "gated.fcs: /A (100 events)" || bad "-p /A count"

# ---- compensation: a gate on compensation-ref="FCS" plots compensated values ---------------
read -r n_pos n_all < <(PYCHECK spill "$W/spill.fcs")
cat >"$W/comp.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <gating:RectangleGate gating:id="Pos">
    <gating:dimension gating:compensation-ref="FCS" gating:min="500"><data-type:fcs-dimension data-type:name="FL1"/></gating:dimension>
    <gating:dimension gating:compensation-ref="FCS" gating:min="-1e9"><data-type:fcs-dimension data-type:name="FL2"/></gating:dimension>
  </gating:RectangleGate>
</gating:Gating-ML>
EOF
"$PLOT" -g "$W/comp.xml" --bins 32 -o "$W/comp.svg" "$W/spill.fcs" || bad "plot with compensation"
PYCHECK density "$W/comp.svg" "$W/spill.fcs.tsv" FL1 FL2 0 1024 0 1024 32 || bad "compensated density"
want=$(python3 -c "print('Pos %d (%.1f%%)' % ($n_pos, 100.0 * $n_pos / $n_all))")
grep -q ">$want</text>" "$W/comp.svg" || bad "compensated gate label (want $want)"
PYCHECK ticks "$W/comp.svg" "0" "FL1 [compensated: FCS]" || bad "compensated axis title"
# The same compensation as a strategy matrix: a spectrum matrix S (unmixed by
# least squares, = o S^-1 for a square S), and S^-1 given as already inverted.
for kind in spectrum inverted; do
    if [ $kind = spectrum ]; then
        attrs='' rows='<t:spectrum><t:coefficient t:value="1"/><t:coefficient t:value="0.2"/></t:spectrum>
        <t:spectrum><t:coefficient t:value="0.1"/><t:coefficient t:value="1"/></t:spectrum>'
    else
        attrs=' t:matrix-inverted-already="true"'
        rows='<t:spectrum><t:coefficient t:value="1.0204081632653061"/><t:coefficient t:value="-0.2040816326530612"/></t:spectrum>
        <t:spectrum><t:coefficient t:value="-0.10204081632653061"/><t:coefficient t:value="1.0204081632653061"/></t:spectrum>'
    fi
    cat >"$W/m_$kind.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<g:Gating-ML xmlns:g="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:t="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
    xmlns:d="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <t:spectrumMatrix t:id="M"$attrs>
    <t:fluorochromes><d:fcs-dimension d:name="FL1"/><d:fcs-dimension d:name="FL2"/></t:fluorochromes>
    <t:detectors><d:fcs-dimension d:name="FL1"/><d:fcs-dimension d:name="FL2"/></t:detectors>
    $rows
  </t:spectrumMatrix>
  <g:RectangleGate g:id="Pos">
    <g:dimension g:compensation-ref="M" g:min="500"><d:fcs-dimension d:name="FL1"/></g:dimension>
    <g:dimension g:compensation-ref="M" g:min="-1e9"><d:fcs-dimension d:name="FL2"/></g:dimension>
  </g:RectangleGate>
</g:Gating-ML>
EOF
    "$PLOT" -g "$W/m_$kind.xml" --bins 32 -o "$W/m_$kind.svg" "$W/spill.fcs" || bad "plot with matrix ($kind)"
    PYCHECK density "$W/m_$kind.svg" "$W/spill.fcs.tsv" FL1 FL2 0 1024 0 1024 32 || bad "density, matrix ($kind)"
    grep -q ">$want</text>" "$W/m_$kind.svg" || bad "gate label, matrix ($kind)"
done

# ---- errors ------------------------------------------------------------------------------------
expect() { # expect CODE PATTERN CMD...
    local code=$1 pat=$2 rc=0
    shift 2
    "$@" >"$W/out" 2>"$W/err" || rc=$?
    [ "$rc" = "$code" ] || bad "exit $rc (want $code): $*: $(cat "$W/err")"
    # input errors: one line; usage errors: the message, then the usage lines
    [ "$code" != 1 ] || [ "$(wc -l <"$W/err")" -le 1 ] || bad "more than one message line: $*"
    grep -q -- "$pat" "$W/err" || bad "message of '$*' lacks '$pat': $(cat "$W/err")"
}
expect 2 "svg or png" "$PLOT" -x FSC-A -f jpg "$W/s.fcs"
expect 2 "bins" "$PLOT" -x FSC-A --bins 1 "$W/s.fcs"
expect 2 "needs -x" "$PLOT" -y SSC-A "$W/s.fcs"
expect 2 "LO:HI" "$PLOT" -x FSC-A --xlim 5:1 "$W/s.fcs"
expect 2 "WxH" "$PLOT" -x FSC-A --size 10x10 "$W/s.fcs"
expect 2 "TRANSFORM:CHANNELS" "$PLOT" -x FSC-A -t logicle "$W/s.fcs"
expect 2 "one input" "$PLOT" -x FSC-A "$W/s.fcs" "$W/s.fcs"
expect 2 "unrecognized\|invalid" "$PLOT" --frobnicate "$W/s.fcs"
expect 1 "^fcs-plot: $W/nope.fcs: " "$PLOT" -x FSC-A "$W/nope.fcs"
expect 1 "no channel 'CD99'" "$PLOT" -x CD99 "$W/s.fcs"
expect 1 "no population 'Nope'" "$PLOT" -g "$W/gates.xml" -p Nope "$W/s.fcs"
expect 1 "quadrant gate" "$PLOT" -g "$W/gates.xml" -p Q "$W/s.fcs"
echo '<not gating-ml/>' >"$W/bad.xml"
expect 1 "^fcs-plot: " "$PLOT" -g "$W/bad.xml" "$W/s.fcs"
expect 1 "no population 'Z'" "$PLOT" -x FSC-A -p Z "$W/gated.fcs"
expect 0 "matches no plotted channel" "$PLOT" -x FSC-A -t "$LGC:CD19" -o "$W/w.svg" "$W/s.fcs"
# ---- a ratio dimension (Gating-ML fratio FSC-H/FSC-A): values, gate label, axis title ----
cat >"$W/ratio.xml" <<'EOF'
<?xml version="1.0"?>
<g:Gating-ML xmlns:g="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:t="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
    xmlns:d="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <t:transformation t:id="rat"><t:fratio t:A="1" t:B="0" t:C="0"><d:fcs-dimension d:name="FSC-H"/><d:fcs-dimension d:name="FSC-A"/></t:fratio></t:transformation>
  <g:RectangleGate g:id="Singlets">
    <g:dimension g:compensation-ref="uncompensated" g:min="0.7" g:max="0.9"><d:new-dimension d:transformation-ref="rat"/></g:dimension>
    <g:dimension g:compensation-ref="uncompensated" g:min="20000"><d:fcs-dimension d:name="FSC-A"/></g:dimension>
  </g:RectangleGate>
</g:Gating-ML>
EOF
expect 1 "give --xlim" "$PLOT" -g "$W/ratio.xml" "$W/s.fcs"
"$PLOT" -g "$W/ratio.xml" --xlim 0:1.2 --bins 48 -o "$W/ratio.svg" "$W/s.fcs" || bad "ratio plot"
python3 - "$W" <<'EOF' || bad "ratio dimension"
import sys
W = sys.argv[1]
exec(open(W + "/check.py").read().replace("\nmain()\n", "\n"))
names, rows = read_tsv(W + "/s.tsv")
a, h = names.index("FSC-A"), names.index("FSC-H")
with open(W + "/ratio.tsv", "w") as f:
    f.write("r\tFSC-A\n")
    for r in rows:
        if r[a]:
            f.write("%r\t%r\n" % (r[h] / r[a], r[a]))
n = sum(1 for r in rows if r[a] and 0.7 <= r[h] / r[a] < 0.9 and r[a] >= 20000)
root = svg(W + "/ratio.svg")
assert texts(root, "gate-label") == [label("Singlets", n, len(rows))], texts(root, "gate-label")
assert "rat FSC-H/FSC-A" in texts(root, "axis-title"), texts(root, "axis-title")
check_density(W + "/ratio.svg", W + "/ratio.tsv", "r", "FSC-A", (0, 1.2), (0, 262144), 48)
EOF

# -o: a failed run leaves an existing file as it was, and no temporary file.
echo keep >"$W/keep.svg"
"$PLOT" -x CD99 -o "$W/keep.svg" "$W/s.fcs" 2>/dev/null && bad "bad channel succeeded"
[ "$(cat "$W/keep.svg")" = keep ] || bad "-o replaced a file on failure"
ls "$W" | grep -q '\.tmp\.' && bad "temporary file left behind"
"$PLOT" -x FSC-A -o "$W/keep.svg" "$W/s.fcs" || bad "-o over an existing file"
python3 -c "import xml.etree.ElementTree as E; E.parse('$W/keep.svg')" || bad "-o output not XML"

# -o onto the strategy file is refused and leaves it intact (regression: it was overwritten)
if [ -f "$W/gates.txt" ]; then
    cp "$W/gates.txt" "$W/gates.orig"
    rc=0
    "$PLOT" -g "$W/gates.txt" -p Lymph -o "$W/gates.txt" "$W/s.fcs" 2>"$W/err" || rc=$?
    [ $rc = 1 ] || bad "-o onto the -g strategy: exit $rc, want 1"
    cmp -s "$W/gates.txt" "$W/gates.orig" || bad "-o onto the -g strategy changed it"
fi

[ $fail = 0 ] && echo "plot.sh: all checks passed"
exit $fail
