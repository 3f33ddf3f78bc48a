#!/usr/bin/env python3
"""Render the cards of a CDS Hooks response as markdown, the way a clinician sees them (summary,
detail, suggestion buttons, links, source), for docs/cards/. Usage: card-markdown.py RESPONSE.json"""
import json
import sys


def action_line(a):
    what = a.get("resource", {}).get("resourceType") or a.get("resourceId", "")
    return f"    - `{a['type']}` {what}: {a['description']}"


def card_md(c):
    out = [f"### [{c['indicator']}] {c['summary']}", ""]
    if c.get("detail"):
        out += [c["detail"].rstrip(), ""]
    if c.get("suggestions"):
        out.append(f"**Buttons** (`selectionBehavior: {c.get('selectionBehavior')}`):")
        out.append("")
        for s in c["suggestions"]:
            star = " (recommended)" if s.get("isRecommended") else ""
            out.append(f"- **{s['label']}**{star}")
            out += [action_line(a) for a in s.get("actions", [])] or ["    - *(no action)*"]
        out.append("")
    if c.get("links"):
        out.append("**Links:**")
        out.append("")
        out += [f"- [{l['label']}]({l['url']}) (`{l['type']}`)" for l in c["links"]]
        out.append("")
    src = c["source"]
    line = f"*Source:* {src['label']}"
    if src.get("url"):
        line += f" — <{src['url']}>"
    if src.get("topic"):
        t = src["topic"]
        line += f" — topic `{t.get('code')}` ({t.get('display')})"
    out += [line, ""]
    return "\n".join(out)


def main():
    with open(sys.argv[1]) as f:
        resp = json.load(f)
    print("\n---\n\n".join(card_md(c) for c in resp["cards"]))


if __name__ == "__main__":
    main()
