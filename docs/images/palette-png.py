#!/usr/bin/python3
"""palette-png.py IN.png OUT.png — make a browser screenshot small enough for the docs.

Reduces an RGB(A) PNG (as chromium --screenshot writes it) to an 8-bit palette PNG of its
256 most frequent colours (counted on 5 bits per channel; every pixel takes the nearest of
them), filter None, zlib level 9. Used for docs/images/report.png (docs/report.md says how
the screenshot was taken). Needs python3-numpy; prints width, height and the output size.
"""
import struct, sys, zlib
import numpy as np
def decode(path):
    b = open(path, "rb").read()
    at, idat = 8, b""
    while at < len(b):
        n, = struct.unpack(">I", b[at:at+4]); t = b[at+4:at+8]; d = b[at+8:at+8+n]
        if t == b"IHDR": w, h, depth, color = struct.unpack(">IIBB", d[:10])
        if t == b"IDAT": idat += d
        at += 12 + n
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat); stride = w * bpp
    out = np.zeros((h, stride), np.uint8); prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y*(stride+1)]; cur = np.frombuffer(raw, np.uint8, stride, y*(stride+1)+1).astype(np.int32)
        if f == 0: r = cur
        elif f == 2: r = (cur + prev) & 255
        else:
            r = list(cur); pv = list(prev)
            for i in range(stride):
                a = r[i-bpp] if i >= bpp else 0
                if f == 1: p = a
                elif f == 3: p = (a + pv[i]) // 2
                else:
                    c = pv[i-bpp] if i >= bpp else 0
                    q = a + pv[i] - c; pa, pb, pc = abs(q-a), abs(q-pv[i]), abs(q-c)
                    p = a if pa <= pb and pa <= pc else (pv[i] if pb <= pc else c)
                r[i] = (r[i] + p) & 255
            r = np.array(r, np.int32)
        out[y] = r; prev = r
    return out.reshape(h, w, bpp)[:, :, :3]
img = decode(sys.argv[1]).astype(np.int32)
h, w, _ = img.shape
q = (img >> 3)
key = (q[:, :, 0] << 10) | (q[:, :, 1] << 5) | q[:, :, 2]
vals, inv, counts = np.unique(key.ravel(), return_inverse=True, return_counts=True)
order = np.argsort(-counts)[:256]
cent = np.stack([(vals >> 10) & 31, (vals >> 5) & 31, vals & 31], 1) * 8 + 4
pal = cent[order]
# nearest palette entry of every 5-bit colour
d = ((cent[:, None, :] - pal[None, :, :]) ** 2).sum(2)
near = d.argmin(1).astype(np.uint8)
idx = near[inv].reshape(h, w)
rows = b"".join(b"\x00" + idx[y].tobytes() for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)) \
    + chunk(b"PLTE", bytes(np.clip(pal, 0, 255).astype(np.uint8).ravel())) \
    + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
open(sys.argv[2], "wb").write(png)
print(w, h, len(png))
