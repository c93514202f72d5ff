#!/usr/bin/env python3
"""fcs_means.py FILE.fcs - per-channel means of data set 0, computed without libfcs.

An independent check for examples/read_events.c: a deliberately plain FCS reader (list mode,
$DATATYPE I/F/D, any $BYTEORD, offsets from HEADER or TEXT) applying the FCS 3.1
channel-to-scale rule that FCS_VALUES_SCALED documents:
  integer data with $PnE f1 > 0:  10^(f1 * raw / $PnR) * f2   (f2 = 0 read as 1)
  else $PnG given and not 0 or 1: raw / $PnG
  else raw.
Prints "events<TAB>N" then one line per parameter: index<TAB>name<TAB>mean (repr of the
double). Sums are taken in event order in double, as the example does, so the means agree to
the last bit or nearly (the example sums chunk by chunk in the same order).
"""
import struct
import sys


def parse_text(buf):
    delim = buf[0:1]
    out, key, cur, i = {}, None, bytearray(), 1
    while i < len(buf):
        c = buf[i:i + 1]
        if c == delim:
            if buf[i + 1:i + 2] == delim and i + 1 < len(buf) - 1:
                cur += delim  # doubled delimiter = literal
                i += 2
                continue
            s = cur.decode("latin-1")
            if key is None:
                key = s.strip().upper()
            else:
                out[key] = s
                key = None
            cur = bytearray()
        else:
            cur += c
        i += 1
    return out


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    hdr = data[:58]
    t0, t1 = int(hdr[10:18]), int(hdr[18:26])
    d0, d1 = int(hdr[26:34] or 0), int(hdr[34:42] or 0)
    kw = parse_text(data[t0:t1 + 1])
    if d0 == 0 and d1 == 0:
        d0, d1 = int(kw["$BEGINDATA"]), int(kw["$ENDDATA"])
    npar, tot = int(kw["$PAR"]), int(kw["$TOT"])
    dtype = kw["$DATATYPE"].strip().upper()
    order = [int(x) for x in kw.get("$BYTEORD", "1,2,3,4").split(",")]
    little = order[0] == 1
    params = []
    for j in range(1, npar + 1):
        bits = int(kw["$P%dB" % j])
        rng = float(kw.get("$P%dR" % j, "0"))
        e = [float(x) for x in kw.get("$P%dE" % j, "0,0").split(",")]
        g = float(kw.get("$P%dG" % j, "1"))
        params.append((kw.get("$P%dN" % j, "P%d" % j), bits, rng, e, g))
    if dtype in ("F", "D"):
        fmt = ("<" if little else ">") + ("f" if dtype == "F" else "d") * npar
        rec = struct.calcsize(fmt)
        unpack = struct.Struct(fmt).unpack_from
    elif dtype == "I":
        widths = [p[1] // 8 for p in params]
        rec = sum(widths)
    else:
        sys.exit("fcs_means.py: $DATATYPE %s not handled" % dtype)
    body = data[d0:d1 + 1]
    if len(body) < rec * tot:
        sys.exit("fcs_means.py: %s: DATA holds %d bytes, need %d" % (path, len(body), rec * tot))
    sums = [0.0] * npar
    for i in range(tot):
        off = i * rec
        if dtype == "I":
            raw, o = [], off
            for (name, bits, rng, e, g), w in zip(params, widths):
                v = int.from_bytes(body[o:o + w], "little" if little else "big")
                if rng > 0 and rng <= 2 ** bits:
                    # $PnR bit mask: the smallest power of two >= range, minus 1
                    m = 1
                    while m < rng:
                        m <<= 1
                    v &= m - 1
                raw.append(float(v))
                o += w
        else:
            raw = unpack(body, off)
        for j, v in enumerate(raw):
            name, bits, rng, e, g = params[j]
            if dtype == "I" and e[0] > 0:
                v = 10 ** (e[0] * v / rng) * (e[1] if e[1] != 0 else 1.0)
            elif g not in (0.0, 1.0):
                v = v / g
            sums[j] += v
    print("events\t%d" % tot)
    for j, (name, *_rest) in enumerate(params):
        print("%d\t%s\t%r" % (j + 1, name, sums[j] / tot if tot else float("nan")))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: fcs_means.py FILE.fcs")
    sys.exit(main(sys.argv[1]))
