#!/usr/bin/env python3
"""make_seeds.py - write the fuzz seed corpus tests/fuzz/seeds/ from scratch.

Every seed is a small FCS byte image built here from first principles (the
FCS 2.0/3.0/3.1/3.2 layout), never a copy of a third-party file. Each one
exercises one feature or one vendor quirk the reader must handle, so that the
fuzzer starts next to every branch of the parser.

Seed layout (what tests/fuzz/fuzz_reader.c expects): one option byte, then
the FCS image.
    bit 0  open with opts.strict
    bit 1  open with opts.metadata_only
    bits 2-4  events per fcs_read_events call - 1 (1..8)
    bit 5  also read through fcs_read_events_f32
    bit 6  read column-major (FCS_VALUES_COLUMNS)
    bit 7  open through a pipe (the sequential stdin path) instead of memory
tests/tools/fuzz_seeds.sh maps bits 0 and 1 to fcs-info --strict /
--metadata-only when it replays a seed through the tools.

Usage: python3 tests/fuzz/make_seeds.py [OUTDIR]   (default: tests/fuzz/seeds)
The output is deterministic: running it twice gives the same bytes.
"""

import gzip
import os
import struct
import sys

STRICT, METADATA, F32, COLUMNS, PIPE = 1, 2, 32, 64, 128


def chunk_bits(n):
    """Option bits asking for n events per read call (1..8)."""
    return ((n - 1) & 7) << 2


# ---- DATA encoding -----------------------------------------------------------

def word_bits(b):
    """Storage width of an integer parameter: $PnB rounded up to a whole
    8/16/32/64-bit word unless it already is a multiple of 8 (24 stays 24)."""
    if b % 8 == 0:
        return b
    return next(w for w in (8, 16, 32, 64) if w >= b)


def encode_int(v, bits, little):
    nbytes = word_bits(bits) // 8
    return int(v).to_bytes(nbytes, "little" if little else "big")


def encode_data(datatype, byteord, params, events):
    little = byteord.startswith("1")
    out = bytearray()
    if datatype == "A" and params[0]["B"] == "*":
        # Delimited ASCII: values separated by blanks / line ends.
        return " ".join(str(v) for ev in events for v in ev).encode() + b"\n"
    for ev in events:
        for p, v in zip(params, ev):
            dt = p.get("DATATYPE", datatype)  # FCS 3.2 $PnDATATYPE overrides
            if dt == "I":
                out += encode_int(v, p["B"], little)
            elif dt == "F":
                out += struct.pack("<f" if little else ">f", v)
            elif dt == "D":
                out += struct.pack("<d" if little else ">d", v)
            elif dt == "A":
                out += str(v).rjust(int(p["B"])).encode()
    return bytes(out)


# ---- TEXT --------------------------------------------------------------------

def escape(value, delim):
    return value.replace(delim, delim + delim)


def text_segment(pairs, delim, final_delim=True):
    """/KEY/VALUE/KEY/VALUE/ with the delimiter doubled inside values.
    A pair whose value is None is written KEY// (empty value, a CellQuest
    habit) with no escaping of the key."""
    parts = [delim]
    for k, v in pairs:
        if v is None:
            parts.append(k + delim + delim)
        else:
            parts.append(escape(k, delim) + delim + escape(v, delim) + delim)
    s = "".join(parts)
    if not final_delim:
        s = s[:-1]
    return s.encode("latin-1")


def header(version, text_b, text_e, data_b, data_e, ana_b=0, ana_e=0):
    def f(n):
        s = str(n) if n <= 99999999 else "0"
        return s.rjust(8).encode()
    return (version.encode().ljust(10) + f(text_b) + f(text_e) + f(data_b) + f(data_e)
            + f(ana_b) + f(ana_e))


def param_keywords(params):
    kw = []
    for i, p in enumerate(params, 1):
        for key in ("N", "S", "B", "E", "R", "G", "D", "DATATYPE"):
            if key in p and p[key] is not None:
                kw.append(("$P%d%s" % (i, key), str(p[key])))
    return kw


def build_dataset(version="FCS3.1", datatype="I", byteord="1,2,3,4", params=(), events=(),
                  mode="L", extra=(), delim="/", text_start=58, header_zero=False,
                  off_by_one=False, final_delim=True, crc=True, nextdata=0, tot=None,
                  stext=None, data_override=None, trailing=b"", key_blanks=None,
                  text_data_zero=False):
    """One data set image: HEADER, TEXT (+ optional supplemental TEXT), DATA, CRC.
    Offsets are relative to the image start, as FCS wants within a data set."""
    params = list(params)
    data = data_override if data_override is not None else encode_data(
        datatype, byteord, params, events)
    is3 = not version.startswith("FCS2")
    base = [("$BYTEORD", byteord), ("$DATATYPE", datatype), ("$MODE", mode),
            ("$PAR", str(len(params))), ("$TOT", str(len(events) if tot is None else tot)),
            ("$NEXTDATA", str(nextdata))]
    if key_blanks:
        base = [((" " * key_blanks + k) if k == "$DATATYPE" else k, v) for k, v in base]
    body = base + param_keywords(params) + list(extra)
    # Offsets depend on the TEXT length and vice versa: iterate to a fixed point.
    data_b = text_start + 200
    stext_b = stext_e = 0
    for _ in range(10):
        kw = list(body)
        if is3:
            kw = [("$BEGINANALYSIS", "0"), ("$ENDANALYSIS", "0"),
                  ("$BEGINSTEXT", str(stext_b)), ("$ENDSTEXT", str(stext_e)),
                  ("$BEGINDATA", "0" if text_data_zero else str(data_b)),
                  ("$ENDDATA", "0" if text_data_zero else
                   str(data_b + len(data) - (0 if off_by_one else 1)))] + kw
        text = text_segment(kw, delim, final_delim)
        pos = text_start + len(text)
        st = b""
        if stext is not None:
            st = text_segment(stext, delim)
            new_sb, new_se = pos, pos + len(st) - 1
            pos += len(st)
        else:
            new_sb = new_se = 0
        new_db = pos
        if (new_db, new_sb, new_se) == (data_b, stext_b, stext_e):
            break
        data_b, stext_b, stext_e = new_db, new_sb, new_se
    text_e = text_start + len(text) - 1
    data_e = data_b + len(data) - (0 if off_by_one else 1)
    if header_zero or not data:
        hb, he = 0, 0
    else:
        hb, he = data_b, data_e
    img = bytearray(header(version, text_start, text_e, hb, he))
    img += b" " * (text_start - len(img))
    img += text + (st if stext is not None else b"") + data
    if is3 and crc:
        img += b"00000000"
    img += trailing
    return bytes(img)


def build_multi(datasets):
    """Chain data sets with $NEXTDATA (offset of the next HEADER from this one)."""
    images = []
    for i, kwargs in enumerate(datasets):
        last = i == len(datasets) - 1
        nxt = 0
        for _ in range(10):
            img = build_dataset(nextdata=nxt, **kwargs)
            if last or len(img) == nxt:
                break
            nxt = len(img)
        images.append(img)
    return b"".join(images)


def P(n, b=16, r=1024, e="0,0", s=None, g=None):
    p = {"N": n, "B": b, "R": r, "E": e}
    if s is not None:
        p["S"] = s
    if g is not None:
        p["G"] = g
    return p


# ---- the seeds -----------------------------------------------------------------

def seeds():
    out = {}
    three = [P("FSC-H", s="FSC"), P("SSC-H", s=" "), P("FL1-H", s="CD3 FITC")]
    ev3 = [[0, 1023, 512], [1, 2, 3], [1024 + 7, 65535, 100], [900, 800, 700]]
    spill = "2,FSC-H,FL1-H,1,0.1,0.02,1"

    out["fcs31-int16-le-spillover"] = (0, build_dataset(
        params=three, events=ev3, extra=[("$SPILLOVER", spill), ("$CYT", "seed")]))
    out["fcs30-int32-be-time-gain"] = (chunk_bits(3), build_dataset(
        version="FCS3.0", byteord="4,3,2,1",
        params=[P("Time", 32, 262144, g="0.01"), P("FSC-A", 32, 262144, g="2.5"),
                P("CD19", 32, 262144)],
        events=[[10, 200000, 5], [20, 262143, 6], [30, 3, 2 ** 31 + 9]],
        extra=[("$TIMESTEP", "0.01")]))
    out["fcs20-int8-log"] = (0, build_dataset(
        version="FCS2.0", params=[P("FL1-H", 8, 256, "4,1"), P("FL2-H", 8, 256, "4,0"),
                                  P("FSC-H", 8, 256)],
        events=[[0, 0, 0], [255, 128, 64], [1, 2, 3]]))
    out["fcs31-float32-spill"] = (F32, build_dataset(
        datatype="F", params=[P("FSC-A", 32, 262144), P("PE-A", 32, 262144, "4,1")],
        events=[[1.5, -2.25], [float("inf"), float("nan")], [3.4e38, -0.0]],
        extra=[("SPILL", "2,FSC-A,PE-A,1,0.5,0,1")]))
    out["fcs31-double-be"] = (COLUMNS, build_dataset(
        datatype="D", byteord="4,3,2,1", params=[P("X", 64, 1e6), P("Y", 64, 1e6)],
        events=[[649.5, -4.5], [1e-300, 1e300]]))
    out["fcs30-ascii-fixed"] = (0, build_dataset(
        version="FCS3.0", datatype="A", byteord="4,3,2,1",
        params=[P("A1", 4, 1000), P("A2", 4, 1000)], events=[[100, 200], [300, 400]]))
    out["fcs30-ascii-delimited"] = (0, build_dataset(
        version="FCS3.0", datatype="A", params=[P("D1", "*", 1000), P("D2", "*", 1000)],
        events=[[1, 22], [333, 4444], [5, 6]]))
    out["fcs30-int10-in-16bit-words"] = (0, build_dataset(
        version="FCS3.0", byteord="4,3,2,1", params=[P("FS", 10, 1024), P("SS", 10, 1024)],
        events=[[1023, 0xFFFF], [512, 1024 + 5]]))
    out["fcs30-int24-be"] = (0, build_dataset(
        version="FCS3.0", byteord="4,3,2,1", params=[P("FL1", 24, 16777216), P("FL2", 24, 1000)],
        events=[[16777215, 999], [1, 1023]]))
    out["fcs31-mixed-16-32"] = (chunk_bits(2), build_dataset(
        params=[P("A", 16, 65536), P("B", 32, 11209599), P("C", 8, 256)],
        events=[[49135, 8265081, 7], [61266, 15691602, 255]]))
    out["fcs30-two-datasets"] = (0, build_multi([
        dict(version="FCS3.0", params=[P("P1"), P("P2")], events=[[1, 2], [3, 4]]),
        dict(version="FCS3.0", params=[P("Q1", 32, 4096)], events=[[5], [6], [7]],
             byteord="4,3,2,1"),
    ]))
    out["fcs30-header-offsets-zero"] = (0, build_dataset(
        version="FCS3.0", params=three, events=ev3, header_zero=True))
    out["fcs30-data-end-off-by-one"] = (0, build_dataset(
        version="FCS3.0", params=three, events=ev3, off_by_one=True, trailing=b"\0"))
    out["fcs31-no-final-delimiter"] = (0, build_dataset(
        datatype="F", params=[P("Time", 32, 1), P("FSC-H", 32, 1)],
        events=[[0.5, 1.0]], final_delim=False))
    out["fcs30-escapes-and-empty-values"] = (0, build_dataset(
        version="FCS3.0", params=[P("FL1/A", s="a//b"), P("FL2")], events=[[1, 2]],
        extra=[("$SRC", "x/y"), ("EMPTY", None), ("$FIL", "f.fcs"),
               ("$COM", "10 \xb5L\x01 latin-1")]))
    out["fcs31-supplemental-text"] = (0, build_dataset(
        params=[P("A"), P("B")], events=[[7, 8]],
        stext=[("$SPILLOVER", "2,A,B,1,0,0,1"), ("VENDOR", "stext")]))
    out["fcs31-text-at-256-pipe-delim"] = (0, build_dataset(
        params=[P("A"), P("B")], events=[[9, 10]], delim="|", text_start=256))
    out["fcs31-formfeed-delim"] = (0, build_dataset(
        params=[P("A")], events=[[1], [2]], delim="\x0c"))
    out["fcs20-mode-u"] = (0, build_dataset(
        version="FCS2.0", params=[P("A")], events=[[1], [2]], mode="U"))
    out["fcs20-duplicate-names"] = (0, build_dataset(
        version="FCS2.0", params=[P("FCS"), P("FCS")], events=[[400, 300], [600, 300]]))
    out["fcs31-spillover-names-only"] = (0, build_dataset(
        params=[P("FL2-A"), P("FL4-A")], events=[[1, 2]],
        extra=[("$SPILLOVER", "2,FL2-A,FL4-A")]))
    out["fcs20-comp"] = (0, build_dataset(
        version="FCS2.0", params=[P("FL1-H"), P("FL2-H")], events=[[1, 2]],
        extra=[("$COMP", "2,1,0.1,0.2,1")]))
    out["fcs20-dfc"] = (0, build_dataset(
        version="FCS2.0", params=[P("FL1-H"), P("FL2-H"), P("FL3-H")], events=[[1, 2, 3]],
        extra=[("$DFC1TO2", "12.5"), ("$DFC2TO1", "1.5"), ("$DFC3TO1", "0.0")]))
    out["fcs32-int16"] = (0, build_dataset(
        version="FCS3.2", params=[P("A"), P("B")], events=[[1, 2], [3, 4]],
        extra=[("$CYT", "seed 3.2")]))
    out["fcs31-blanks-before-keyword"] = (0, build_dataset(
        params=[P("A")], events=[[1]], key_blanks=20))
    out["fcs31-tot-mismatch"] = (0, build_dataset(
        params=[P("A"), P("B")], events=[[1, 2], [3, 4], [5, 6]], tot=2))
    out["fcs31-missing-range"] = (0, build_dataset(
        params=[{"N": "A", "B": 16, "E": "0,0"}, P("B")], events=[[1, 2]]))
    out["fcs31-gzip"] = (0, gzip.compress(build_dataset(params=three, events=ev3), mtime=0))
    out["fcs31-data-past-end-metadata"] = (METADATA, build_dataset(
        params=three, events=ev3)[:-20])
    out["fcs30-off-by-one-strict"] = (STRICT, out["fcs30-data-end-off-by-one"][1])
    out["fcs30-no-crc"] = (0, build_dataset(
        version="FCS3.0", params=[P("A", 16, 1000), P("B", 16, 1000)], events=[[100, 200]],
        crc=False))
    out["fcs30-no-crc-gzip"] = (0, gzip.compress(out["fcs30-no-crc"][1], mtime=0))
    out["fcs31-gzip-truncated-data"] = (chunk_bits(2), gzip.compress(
        build_dataset(params=three, events=ev3 * 4)[:-30], mtime=0))
    out["fcs30-two-datasets-gzip"] = (0, gzip.compress(out["fcs30-two-datasets"][1], mtime=0))
    out["fcs32-pn-datatype"] = (F32, build_dataset(
        version="FCS3.2", params=[P("I16"), dict(P("F32", 32, 1), DATATYPE="F"),
                                  dict(P("D64", 64, 1), DATATYPE="D")],
        events=[[1, 0.5, 0.25], [2, -1.5, 1e10]]))
    out["fcs31-placeholder-text-offsets"] = (0, build_dataset(
        params=three, events=ev3, text_data_zero=True))
    out["fcs31-float-log-pne"] = (0, build_dataset(
        datatype="F", params=[P("FL1-A", 32, 262144, "5,1"), P("SSC-A", 32, 262144, g="0.5")],
        events=[[10.0, 20.0], [-3.0, 1e5]], extra=[("$TIMESTEP", "xxxxxxxxx")]))
    out["fcs30-two-datasets-pipe"] = (PIPE | chunk_bits(2), out["fcs30-two-datasets"][1])
    out["fcs31-int16-pipe"] = (PIPE, out["fcs31-int16-le-spillover"][1])
    out["fcs30-zero-events"] = (0, build_dataset(version="FCS3.0", params=[P("A")], events=[]))
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "seeds")
    os.makedirs(outdir, exist_ok=True)
    for name in os.listdir(outdir):
        if name.endswith(".seed"):
            os.remove(os.path.join(outdir, name))
    for name, (opt, img) in sorted(seeds().items()):
        with open(os.path.join(outdir, name + ".seed"), "wb") as fh:
            fh.write(bytes([opt]) + img)
    print("wrote %d seeds to %s" % (len(seeds()), outdir))


if __name__ == "__main__":
    main()
