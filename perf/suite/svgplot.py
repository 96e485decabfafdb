"""A small SVG line plot (standard library only) for perf/suite/report.py:
log or linear axes, labelled ticks, one polyline per series with a circle
per data point and a min–max bar, a legend. Every data point is a
`<circle class="point">` with `data-x` / `data-y` attributes, so a check
can count and read them back."""
import math
from xml.sax.saxutils import escape

W, H = 760, 480
LEFT, RIGHT, TOP, BOTTOM = 80, 250, 50, 70


def _scale(lo, hi, log, a, b):
    if log:
        lo, hi = math.log10(lo), math.log10(hi)

    def f(v):
        v = math.log10(v) if log else v
        return a + (v - lo) / (hi - lo) * (b - a) if hi > lo else (a + b) / 2

    return f


def _nice_ticks(lo, hi, log):
    if log:
        out = []
        e = math.floor(math.log10(lo))
        while 10 ** e <= hi * 1.0001:
            for m in (1, 2, 5):
                v = m * 10 ** e
                if lo * 0.9999 <= v <= hi * 1.0001:
                    out.append(v)
            e += 1
        return out
    step = 10 ** math.floor(math.log10(max(hi - lo, 1e-9)))
    if (hi - lo) / step < 4:
        step /= 2
    v = math.ceil(lo / step) * step
    out = []
    while v <= hi + 1e-9:
        out.append(v)
        v += step
    return out


def _fmt(v):
    if v >= 1000:
        return f"{v:,.0f}".replace(",", " ")
    if v >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def _bounds(vals, log):
    lo, hi = min(vals), max(vals)
    if log:
        lo = 10 ** math.floor(math.log10(lo))
        hi = 10 ** math.ceil(math.log10(hi))
    else:
        lo = min(0.0, lo)
        hi = hi * 1.1 if hi > 0 else 1.0
    return lo, hi


def plot(title, xlabel, ylabel, series, xlog=False, ylog=False, xticks=None, note=""):
    """series: [{label, color, dash, points: [(x, y, ylo, yhi)]}]."""
    xs = [p[0] for s in series for p in s["points"]]
    ys = [v for s in series for p in s["points"] for v in p[1:4] if v > 0 or not ylog]
    if not xs or not ys:
        raise ValueError("nothing to plot")
    x0, x1 = min(xs), max(xs)
    if xlog:
        x0, x1 = x0 / 1.5, x1 * 1.5
    else:
        pad = (x1 - x0) * 0.05 or 1
        x0, x1 = x0 - pad, x1 + pad
    y0, y1 = _bounds(ys, ylog)
    px = _scale(x0, x1, xlog, LEFT, W - RIGHT)
    py = _scale(y0, y1, ylog, H - BOTTOM, TOP)
    o = []
    o.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">')
    o.append(f"<title>{escape(title)}</title>")
    o.append(f'<rect x="0" y="0" width="{W}" height="{H}" fill="white"/>')
    o.append(f'<text x="{W / 2 - RIGHT / 2 + LEFT / 2}" y="24" text-anchor="middle" '
             f'font-size="15">{escape(title)}</text>')
    # axes
    o.append(f'<g class="axes" stroke="black" fill="none">'
             f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}"/>'
             f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{LEFT}" y2="{TOP}"/></g>')
    for v, lab in (xticks or [(v, _fmt(v)) for v in _nice_ticks(x0, x1, xlog)]):
        x = px(v)
        o.append(f'<line x1="{x:.1f}" y1="{H - BOTTOM}" x2="{x:.1f}" y2="{TOP}" stroke="#ddd"/>')
        o.append(f'<text class="xtick" x="{x:.1f}" y="{H - BOTTOM + 16}" '
                 f'text-anchor="middle">{escape(lab)}</text>')
    for v in _nice_ticks(y0, y1, ylog):
        y = py(v)
        o.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        o.append(f'<text class="ytick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                 f'text-anchor="end">{escape(_fmt(v))}</text>')
    o.append(f'<text class="xlabel" x="{(LEFT + W - RIGHT) / 2}" y="{H - BOTTOM + 40}" '
             f'text-anchor="middle">{escape(xlabel)}</text>')
    o.append(f'<text class="ylabel" x="20" y="{(TOP + H - BOTTOM) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 20 {(TOP + H - BOTTOM) / 2})">{escape(ylabel)}</text>')
    if note:
        o.append(f'<text x="{LEFT}" y="{H - 10}" font-size="11" fill="#555">{escape(note)}</text>')
    # series
    for k, s in enumerate(series):
        c = s["color"]
        dash = ' stroke-dasharray="6 4"' if s.get("dash") else ""
        pts = sorted(s["points"])
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _, _ in pts)
        o.append(f'<g class="series" data-label="{escape(s["label"])}">')
        o.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
        for x, y, lo, hi in pts:
            if lo > 0 or not ylog:
                o.append(f'<line x1="{px(x):.1f}" y1="{py(lo):.1f}" x2="{px(x):.1f}" '
                         f'y2="{py(hi):.1f}" stroke="{c}" stroke-width="1"/>')
            o.append(f'<circle class="point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}" '
                     f'data-x="{x:g}" data-y="{y:g}"/>')
        o.append("</g>")
        ly = TOP + 10 + k * 20
        lx = W - RIGHT + 15
        o.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 25}" y2="{ly}" stroke="{c}" '
                 f'stroke-width="2"{dash}/>')
        o.append(f'<text x="{lx + 32}" y="{ly + 4}">{escape(s["label"])}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def write(path, svg):
    with open(path, "w") as f:
        f.write(svg)
