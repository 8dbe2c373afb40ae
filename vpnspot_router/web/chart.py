"""The bandwidth chart: accounting totals -> inline SVG, drawn on the router.

Server-side so the chart is there without JavaScript (the page's script
only re-fetches it). No inline styles (the CSP forbids them): bars carry
classes `rx`/`tx` that style.css colours. Each bar has a <title> with its
exact figures, and the SVG a <desc> with the totals, for screen readers.
Times are UTC, as the accounting buckets are.
"""

import time
from html import escape

WIDTH, HEIGHT = 720, 200
TOP, BOTTOM, LEFT = 16, 24, 4


def human_bytes(n):
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1000.0


def svg(series, kind, title_id):
    """series: [(start, rx, tx)] oldest first; kind 'hourly' or 'daily'."""
    n = max(len(series), 1)
    peak = max([max(rx, tx) for _, rx, tx in series] + [1])
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT) / float(n)
    bar = max(slot / 2.0 - 1, 1)
    total_rx = sum([rx for _, rx, _ in series])
    total_tx = sum([tx for _, _, tx in series])
    what = "last 24 hours" if kind == "hourly" else "last 30 days"
    out = ['<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" '
           'xmlns="http://www.w3.org/2000/svg">' % (escape(title_id), WIDTH, HEIGHT,
                                                     escape(title_id), escape(title_id)),
           '<title id="%s-t">Traffic through the tunnel, %s</title>' % (escape(title_id), what),
           '<desc id="%s-d">Received %s, sent %s in the %s; the tallest bar is %s.</desc>'
           % (escape(title_id), human_bytes(total_rx), human_bytes(total_tx), what,
              human_bytes(peak)),
           '<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>' % (LEFT, HEIGHT - BOTTOM, WIDTH,
                                                                      HEIGHT - BOTTOM),
           '<text class="label" x="%d" y="12">%s</text>' % (LEFT, escape(human_bytes(peak)))]
    for i, (start, rx, tx) in enumerate(series):
        x = LEFT + i * slot
        when = time.strftime("%d %b %H:00 UTC" if kind == "hourly" else "%d %b",
                             time.gmtime(start))
        tip = "%s: received %s, sent %s" % (when, human_bytes(rx), human_bytes(tx))
        for j, (cls, value) in enumerate((("rx", rx), ("tx", tx))):
            h = plot_h * value / float(peak)
            out.append('<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f">'
                       '<title>%s</title></rect>'
                       % (cls, x + j * bar, HEIGHT - BOTTOM - h, bar, h, escape(tip)))
        every = 6 if kind == "hourly" else 7
        if i % every == 0:
            label = time.strftime("%H:00" if kind == "hourly" else "%d %b", time.gmtime(start))
            out.append('<text class="label" x="%.1f" y="%d">%s</text>'
                       % (x, HEIGHT - 6, escape(label)))
    out.append("</svg>")
    return "".join(out)
