#!/usr/bin/env python3
"""Draws the project's icon, assets/mnist-workbench.png (256x256 RGBA), deterministically.

A handwritten-looking 7 (a tapered pen stroke) on a dark rounded square, over a faint 28x28
pixel grid (MNIST's image size), with a small bar chart of the ten classes' scores below it:
the bar of the 7 tall and lit, the other nine low. Standard library only (zlib and struct
write the PNG), so it runs anywhere Python 3 does:

    python3 assets/make_icon.py            # rewrites assets/mnist-workbench.png
    python3 assets/make_icon.py 128 out.png

Every shape is a signed distance turned into coverage with a one-pixel ramp (anti-aliased
edges without supersampling); the same numbers give the same bytes on every machine.
"""

import math
import os
import struct
import sys
import zlib

# Palette (sRGB).
BG_TOP = (44, 52, 74)
BG_BOTTOM = (20, 24, 36)
RIM = (92, 108, 150)
GRID = (255, 255, 255)
INK = (246, 242, 230)
INK_SHADOW = (6, 8, 14)
BAR = (96, 110, 140)
BAR_LIT = (255, 178, 62)
BASELINE = (120, 134, 166)

# Scores of the ten classes (0..9) for the bar chart: the 7 wins, 1 and 9 are runners-up.
SCORES = [0.05, 0.16, 0.08, 0.06, 0.04, 0.05, 0.03, 1.0, 0.07, 0.12]


def lerp(a, b, t):
    return a + (b - a) * t


def mix(c0, c1, t):
    return tuple(lerp(a, b, t) for a, b in zip(c0, c1))


def smoothstep(e0, e1, x):
    """0 before `e0`, 1 after `e1` (either order), a smooth S between."""
    t = min(1.0, max(0.0, (x - e0) / (e1 - e0)))
    return t * t * (3 - 2 * t)


def coverage(signed_distance):
    """Share of a pixel inside a shape whose edge is `signed_distance` pixels away."""
    return min(1.0, max(0.0, 0.5 - signed_distance))


def rounded_box(px, py, x0, y0, x1, y1, r):
    """Signed distance to a rounded rectangle (negative inside)."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hx, hy = (x1 - x0) / 2 - r, (y1 - y0) / 2 - r
    qx, qy = abs(px - cx) - hx, abs(py - cy) - hy
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - r


def cubic(p0, p1, p2, p3, n):
    """`n + 1` points on a cubic Bezier curve."""
    pts = []
    for i in range(n + 1):
        t = i / n
        u = 1 - t
        pts.append(
            (
                u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0],
                u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1],
            )
        )
    return pts


def seven():
    """The 7 as a polyline with a pen radius per point (in 256-pixel units)."""
    # The top bar: a slight upward sweep, then a sharp turn into the long diagonal, which
    # bows a little as a hand's stroke does. One continuous stroke, like a real pen.
    top = cubic((72, 58), (106, 48), (150, 44), (184, 40), 24)
    down = cubic((184, 40), (168, 76), (140, 106), (118, 150), 32)
    pts = top + down[1:]
    n = len(pts) - 1
    radii = []
    for i, _ in enumerate(pts):
        t = i / n
        # Pen pressure: a light start, full along the bar and the turn, lifting off towards
        # the end of the diagonal. Smooth, so the stroke's edge has no steps.
        press = smoothstep(0.0, 0.12, t) * lerp(0.5, 1.0, smoothstep(1.0, 0.7, t))
        radii.append(lerp(3.5, 10.5, press))
    # A short European cross stroke on the diagonal.
    bar = cubic((126, 98), (140, 95), (156, 94), (170, 95), 10)
    bar_radii = [lerp(3.0, 6.5, smoothstep(0.0, 0.4, min(i, 10 - i) / 10)) for i in range(11)]
    return [(pts, radii), (bar, bar_radii)]


def stroke_distance(px, py, strokes, scale):
    """Signed distance to the union of tapered strokes (capsules with varying radius)."""
    best = 1e9
    for pts, radii in strokes:
        for (ax, ay), (bx, by), ra, rb in zip(pts, pts[1:], radii, radii[1:]):
            ax, ay, bx, by = ax * scale, ay * scale, bx * scale, by * scale
            dx, dy = bx - ax, by - ay
            len2 = dx * dx + dy * dy
            t = 0.0 if len2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / len2))
            d = math.hypot(px - (ax + t * dx), py - (ay + t * dy)) - lerp(ra, rb, t) * scale
            if d < best:
                best = d
    return best


def draw(size):
    """The icon as rows of RGBA bytes, `size` pixels square."""
    s = size / 256.0
    strokes = seven()
    # Bounding box of the ink (plus shadow), to skip the distance search elsewhere.
    ink_box = (54 * s, 24 * s, 200 * s, 172 * s)
    # Bar chart geometry.
    base_y = 222 * s
    bar_w, gap = 13 * s, 5 * s
    chart_x0 = (256 * s - (10 * bar_w + 9 * gap)) / 2
    bars = []
    for i, score in enumerate(SCORES):
        x0 = chart_x0 + i * (bar_w + gap)
        h = (5 + 46 * score) * s
        bars.append((x0, base_y - h, x0 + bar_w, base_y, BAR_LIT if i == 7 else BAR))
    # The 28x28 grid area behind the digit.
    grid0, grid1 = 44 * s, 212 * s
    cell = (grid1 - grid0) / 28

    rows = []
    for y in range(size):
        row = bytearray()
        py = y + 0.5
        for x in range(size):
            px = x + 0.5
            d_square = rounded_box(px, py, 6 * s, 6 * s, 250 * s, 250 * s, 52 * s)
            alpha = coverage(d_square)
            if alpha <= 0.0:
                row += b"\0\0\0\0"
                continue
            t = py / size
            col = mix(BG_TOP, BG_BOTTOM, t)
            # A soft light from the top left.
            glow = max(0.0, 1 - math.hypot(px - 70 * s, py - 50 * s) / (200 * s))
            col = mix(col, (80, 94, 130), 0.35 * glow * glow)
            # Faint grid lines (MNIST's 28x28), fading towards the bottom.
            if grid0 <= px <= grid1 and grid0 * 0.2 <= py <= 176 * s and size >= 96:
                gx = (px - grid0) / cell
                gy = (py - grid0 * 0.2) / cell
                on = min(abs(gx - round(gx)), abs(gy - round(gy))) * cell
                if on < 0.6:
                    col = mix(col, GRID, 0.045 * (1 - t))
            # Rim: a thin lighter edge just inside the rounded square.
            rim = coverage(abs(d_square + 2.0 * s) - 1.0 * s)
            col = mix(col, RIM, 0.55 * rim)
            # Bars and their baseline.
            for x0, y0, x1, y1, c in bars:
                d = rounded_box(px, py, x0, y0, x1, y1 + 3 * s, 3 * s)
                if d < 1:
                    col = mix(col, c, coverage(d))
            d_base = rounded_box(px, py, chart_x0 - 6 * s, base_y, 256 * s - chart_x0 + 6 * s, base_y + 3 * s, 1.5 * s)
            col = mix(col, BASELINE, coverage(d_base))
            # The digit: a soft shadow offset down-right, then the ink.
            if ink_box[0] <= px <= ink_box[2] and ink_box[1] <= py <= ink_box[3]:
                d_shadow = stroke_distance(px - 3 * s, py - 4 * s, strokes, s)
                shadow = min(1.0, max(0.0, 1 - (d_shadow + 2 * s) / (6 * s)))
                col = mix(col, INK_SHADOW, 0.45 * shadow)
                d_ink = stroke_distance(px, py, strokes, s)
                col = mix(col, INK, coverage(d_ink))
            row += bytes(int(round(max(0.0, min(255.0, v)))) for v in col)
            row.append(int(round(alpha * 255)))
        rows.append(bytes(row))
    return rows


def png(size, rows):
    """A PNG file's bytes: 8-bit RGBA, no interlace, filter 0 on every row, and a tEXt mark."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + r for r in rows)
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    # The tEXt chunk marks the file as the workbench's own: `install-desktop` replaces or
    # removes an icon only when it carries this mark (see src/cli/desktop_cmd.rs, ICON_MARK).
    mark = chunk(b"tEXt", b"Software\0mnist-workbench")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + mark
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "mnist-workbench.png")
    with open(out, "wb") as f:
        f.write(png(size, draw(size)))
    print(f"wrote {out} ({size}x{size})")


if __name__ == "__main__":
    main()
