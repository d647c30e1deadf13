"""Small plots drawn on the server as inline SVG: no plotting library in the serving install,
nothing loaded from another host, and they print in a report as they show on screen. One home
for the clinic's dashboard (:mod:`edge.web.dashboard`) and the hospital's programme view
(:mod:`imaging_server.programme`); markupsafe only (a Flask dependency of both services)."""
from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 320, 220, 32


def _x(value: float, low: float, high: float) -> float:
    return PAD + (value - low) / ((high - low) or 1) * (WIDTH - 2 * PAD)


def _y(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return HEIGHT - PAD - (value - low) / ((high - low) or 1) * (HEIGHT - 2 * PAD)


def _frame(label: str, x_label: str, y_label: str, body: str, *, unit_x: bool = True) -> Markup:
    return Markup(
        f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH * 1.5:g}" role="img" aria-label="{escape(label)}">'
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" fill="none" stroke="#c5cfd9"/>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11">{escape(x_label)}</text>'
        f'<text x="10" y="{HEIGHT / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 10 {HEIGHT / 2})">'
        f'{escape(y_label)}</text>'
        + (f'<text x="{PAD}" y="{HEIGHT - PAD + 12}" font-size="9">0</text>'
           f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 12}" font-size="9" text-anchor="end">1</text>' if unit_x else "")
        + f'<text x="{PAD - 4}" y="{PAD + 4}" font-size="9" text-anchor="end">1</text>'
        f"{body}</svg>")


def calibration_plot(bins: list[dict], *, label: str, x_label: str, y_label: str) -> Markup:
    """Observed against predicted risk per bin (circle area ~ weight), with the diagonal."""
    total = sum(b["weight"] for b in bins) or 1
    points = "".join(
        f'<circle cx="{_x(b["mean_predicted"], 0, 1):.1f}" cy="{_y(b["observed"]):.1f}" '
        f'r="{3 + 9 * (b["weight"] / total) ** 0.5:.1f}" fill="#0b5cad" fill-opacity=".6"/>' for b in bins)
    diagonal = f'<line x1="{_x(0, 0, 1)}" y1="{_y(0)}" x2="{_x(1, 0, 1)}" y2="{_y(1)}" stroke="#8a99a8" stroke-dasharray="4 3"/>'
    return _frame(label, x_label, y_label, diagonal + points)


def risk_over_time(months: list[dict], *, label: str, x_label: str, y_label: str) -> Markup:
    """Median risk per month with the 10th-90th percentile band."""
    if not months:
        return _frame(label, x_label, y_label, "", unit_x=False)
    n = len(months)
    xs = [_x(i, 0, max(n - 1, 1)) for i in range(n)]
    band = " ".join(f"{x:.1f},{_y(m['p90']):.1f}" for x, m in zip(xs, months)) + " " + " ".join(
        f"{x:.1f},{_y(m['p10']):.1f}" for x, m in reversed(list(zip(xs, months))))
    median = " ".join(f"{x:.1f},{_y(m['median']):.1f}" for x, m in zip(xs, months))
    ticks = "".join(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 12}" font-size="8" text-anchor="middle">'
                    f'{escape(m["month"][2:])}</text>' for i, (x, m) in enumerate(zip(xs, months))
                    if i % max(1, n // 6) == 0)
    # A marker and a 10th-90th whisker per month: with a single month (a clinic's first) the band
    # and the line have no area or length and the chart would look blank.
    points = "".join(f'<line x1="{x:.1f}" y1="{_y(m["p10"]):.1f}" x2="{x:.1f}" y2="{_y(m["p90"]):.1f}" '
                     f'stroke="#0b5cad" stroke-opacity=".5" stroke-width="3"/>'
                     f'<circle cx="{x:.1f}" cy="{_y(m["median"]):.1f}" r="3.5" fill="#0b5cad">'
                     f'<title>{escape(m["month"])}: {100 * m["median"]:.0f}% (n={m["n"]})</title></circle>'
                     for x, m in zip(xs, months))
    return _frame(label, x_label, y_label,
                  f'<polygon points="{band}" fill="#0b5cad" fill-opacity=".15"/>'
                  f'<polyline points="{median}" fill="none" stroke="#0b5cad" stroke-width="2"/>{points}{ticks}',
                  unit_x=False)
