"""Render a CDS Hooks response's cards as a CDS client's sidebar would, as one HTML page.

    python card_screenshots.py RESPONSE.json OUT.html [--width 400] [--title TEXT]

Called by scripts/card-screenshots.sh (which runs it in a virtualenv with `markdown`, then
screenshots the page with headless Chromium). Each card: an indicator bar (info / warning /
critical colours), the summary in bold, the detail rendered from CommonMark-ish markdown with
tables (python-markdown's `tables` and `sane_lists` extensions), the source label as a link, the
`links`, and one button per suggestion, as the CDS Hooks sandbox shows them. No script, no
network: the page is self-contained.
"""

import argparse
import html
import json

import markdown

CSS = """
body { margin: 0; background: #f3f4f6; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Liberation Sans", Arial, sans-serif; color: #1f2937; }
.sidebar { width: %(width)dpx; padding: 8px; box-sizing: border-box; }
h1 { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: #6b7280; margin: 4px 2px 8px; }
.card { background: #fff; border: 1px solid #d1d5db; border-left: 6px solid #2563eb; border-radius: 4px; margin-bottom: 10px; padding: 8px 10px; overflow-wrap: anywhere; }
.card.warning { border-left-color: #d97706; }
.card.critical { border-left-color: #dc2626; }
.summary { font-weight: 600; font-size: 15px; margin-bottom: 4px; }
.indicator { font-size: 11px; text-transform: uppercase; color: #6b7280; }
.detail { font-size: 13px; }
.detail p { margin: 6px 0; }
.detail ul, .detail ol { margin: 4px 0; padding-left: 18px; }
.detail table { border-collapse: collapse; font-size: 12px; margin: 6px 0; }
.detail th, .detail td { border: 1px solid #e5e7eb; padding: 2px 4px; text-align: left; vertical-align: top; }
.detail code { font-size: 11px; background: #f3f4f6; padding: 0 2px; }
.source { font-size: 12px; color: #6b7280; margin-top: 6px; }
.source a, .links a { color: #2563eb; }
.links { font-size: 12px; margin-top: 6px; }
.links a { display: block; }
.suggestions { margin-top: 8px; }
.suggestions button { display: block; width: 100%%; text-align: left; margin: 4px 0; padding: 5px 8px; font: inherit; font-size: 13px; background: #eff6ff; border: 1px solid #93c5fd; border-radius: 4px; color: #1e3a8a; }
.suggestions button.recommended { background: #dbeafe; border-color: #2563eb; font-weight: 600; }
.suggestions button.empty { background: #f9fafb; border-style: dashed; color: #6b7280; }
"""


def render_card(card):
    indicator = card.get("indicator", "info")
    parts = [f'<div class="card {html.escape(indicator)}">',
             f'<div class="indicator">{html.escape(indicator)}</div>',
             f'<div class="summary">{html.escape(card.get("summary", ""))}</div>']
    detail = card.get("detail")
    if detail:
        # CDS Hooks detail is GitHub-flavoured markdown; raw HTML in it is escaped by the service.
        body = markdown.markdown(detail, extensions=["tables", "sane_lists"])
        parts.append(f'<div class="detail">{body}</div>')
    source = card.get("source", {})
    label = html.escape(source.get("label", ""))
    url = source.get("url")
    parts.append('<div class="source">Source: ' + (f'<a href="{html.escape(url)}">{label}</a>' if url else label) + "</div>")
    links = card.get("links") or []
    if links:
        parts.append('<div class="links">' + "".join(
            f'<a href="{html.escape(l.get("url", ""))}">{html.escape(l.get("label", ""))}</a>' for l in links) + "</div>")
    sugg = card.get("suggestions") or []
    if sugg:
        buttons = []
        for s in sugg:
            cls = "recommended" if s.get("isRecommended") else ("empty" if not s.get("actions") else "")
            buttons.append(f'<button class="{cls}">{html.escape(s.get("label", ""))}</button>')
        parts.append('<div class="suggestions">' + "".join(buttons) + "</div>")
    parts.append("</div>")
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("response")
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=400)
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    with open(a.response) as f:
        response = json.load(f)
    cards = response.get("cards", [])
    body = "\n".join(render_card(c) for c in cards) or '<div class="card"><div class="summary">No cards</div></div>'
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(a.title)}</title>
<style>{CSS % {"width": a.width}}</style></head>
<body><div class="sidebar"><h1>{html.escape(a.title)}</h1>
{body}
</div></body></html>"""
    with open(a.out, "w") as f:
        f.write(page)


if __name__ == "__main__":
    main()
