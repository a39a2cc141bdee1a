#!/usr/bin/env python3
"""Draws MB/s against workers from bench/scale_sweep.sh's TSV as an SVG.

    plot_scaling.py TABLE.tsv OUT.svg

One polyline per corpus, with points and values, and a dashed line of
perfect scaling from each corpus's -j 1 figure. Plain SVG written here, so
nothing beyond Python's standard library is needed.
"""
import csv
import sys
from xml.sax.saxutils import escape


def main(table, out):
    series = {}
    with open(table, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            series.setdefault(row["corpus"], []).append((int(row["workers"]), float(row["MB_s"])))
    if not series:
        sys.exit("plot_scaling: no rows in " + table)
    width, height, left, right, top, bottom = 640, 400, 70, 130, 30, 50
    max_j = max(j for points in series.values() for j, _ in points)
    ideal = [points[0][1] * max_j / points[0][0] for points in series.values()]
    max_y = max([y for points in series.values() for _, y in points] + ideal) * 1.1

    def x(j):
        return left + (j - 1) / max(max_j - 1, 1) * (width - left - right)

    def y(v):
        return height - bottom - v / max_y * (height - top - bottom)

    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle">mapreduce wordcount: MB/s against workers</text>']
    for i in range(6):  # horizontal grid and y labels
        v = max_y * i / 5
        svg.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    for j in range(1, max_j + 1):
        svg.append(f'<text x="{x(j):.1f}" y="{height - bottom + 18}" text-anchor="middle">{j}</text>')
    svg.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">workers (-j)</text>')
    svg.append(f'<text x="16" y="{height / 2}" transform="rotate(-90 16 {height / 2})" '
               f'text-anchor="middle">MB/s</text>')
    for n, (name, points) in enumerate(sorted(series.items())):
        color = colors[n % len(colors)]
        j1, v1 = points[0]
        svg.append(f'<line x1="{x(j1):.1f}" y1="{y(v1):.1f}" x2="{x(max_j):.1f}" '
                   f'y2="{y(v1 * max_j / j1):.1f}" stroke="{color}" stroke-dasharray="4 4" opacity="0.5"/>')
        path = " ".join(f"{x(j):.1f},{y(v):.1f}" for j, v in points)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for j, v in points:
            svg.append(f'<circle cx="{x(j):.1f}" cy="{y(v):.1f}" r="3" fill="{color}"/>')
            svg.append(f'<text x="{x(j) + 5:.1f}" y="{y(v) - 6:.1f}" fill="{color}">{v:.0f}</text>')
        ly = top + 20 + 20 * n
        svg.append(f'<line x1="{width - right + 15}" y1="{ly}" x2="{width - right + 40}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="2"/>')
        svg.append(f'<text x="{width - right + 45}" y="{ly + 4}">{escape(name)}</text>')
    svg.append(f'<text x="{width - right + 15}" y="{top + 20 + 20 * len(series) + 4}" fill="#666">'
               'dashed: linear</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
