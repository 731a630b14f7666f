"""The state diagram as SVG text, laid out deterministically from the data (no graphviz).

States sit in columns by their distance from the initial state; an edge joins two states for
every pair some transition connects, and each rule on it is a link to its clause.  Leaving a
status that remembers the one before goes to the dashed "status held before" node.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable
from xml.sax.saxutils import escape

PRIOR = "(prior)"
W, H, COL, ROW, X0, Y0 = 170, 44, 260, 96, 30, 50


def _layers(machine) -> dict[str, int]:
    depth = {machine.initial: 0}
    frontier = [machine.initial]
    while frontier:
        nxt = []
        for s in frontier:
            for t in machine.transitions:
                if s in t.spec["from"] and "to" in t.spec and t.spec["to"] not in depth:
                    depth[t.spec["to"]] = depth[s] + 1
                    nxt.append(t.spec["to"])
        frontier = nxt
    last = max(depth.values(), default=0) + 1
    for s in machine.state_ids:          # unreachable states still get drawn (lint reports them)
        depth.setdefault(s, last)
    depth[PRIOR] = last
    return depth


def edges(machine) -> dict[tuple[str, str], list]:
    out: dict[tuple[str, str], list] = defaultdict(list)
    for t in machine.transitions:
        for f in t.spec["from"]:
            to = t.spec.get("to") or (PRIOR if t.spec.get("restore_prior") else f)
            out[(f, to)].append(t)
    return dict(out)


def render(machine, href: Callable[[str], str]) -> str:
    depth = _layers(machine)
    columns: dict[int, list[str]] = defaultdict(list)
    for s in [*machine.state_ids, PRIOR]:
        columns[depth[s]].append(s)
    pos = {s: (X0 + d * COL, Y0 + i * ROW) for d, states in sorted(columns.items()) for i, s in enumerate(states)}
    width = X0 * 2 + (max(columns) + 1) * COL
    height = Y0 * 2 + max(len(v) for v in columns.values()) * ROW + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(machine.title)} state diagram" font-family="sans-serif" font-size="11">',
           f'<title>{escape(machine.title)}</title>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs>']
    for n, ((f, to), rules) in enumerate(sorted(edges(machine).items())):
        (x1, y1), (x2, y2) = pos[f], pos[to]
        ax, ay, bx, by_ = x1 + W, y1 + H / 2, x2, y2 + H / 2
        if f == to:                     # self-loop above the box
            d = f"M {x1 + W * 0.3} {y1} C {x1 + W * 0.3} {y1 - 30}, {x1 + W * 0.7} {y1 - 30}, {x1 + W * 0.7} {y1}"
            lx, ly = x1 + W * 0.5, y1 - 24
        else:
            if x2 <= x1:                # backwards: leave from the left, arrive on the right
                ax, bx = x1, x2 + W
            bend = ((n % 5) - 2) * 14
            cx, cy = (ax + bx) / 2, (ay + by_) / 2 + bend + (40 if x2 <= x1 else 0)
            d = f"M {ax} {ay} Q {cx} {cy} {bx} {by_}"
            lx, ly = cx, cy - 4
        first = rules[0]
        out.append(f'<a href="{escape(href(first.clause_ids[0]))}" class="edge">'
                   f'<title>{escape(f + " → " + to + ": " + ", ".join(r.id for r in rules))}</title>'
                   f'<path d="{d}" fill="none" stroke="#57606a" stroke-width="1.2" marker-end="url(#arrow)"/></a>')
        for i, r in enumerate(rules):
            out.append(f'<a href="{escape(href(r.clause_ids[0]))}"><text x="{lx:.1f}" y="{ly - 11 * i:.1f}" '
                       f'text-anchor="middle" fill="#0b3d5c" font-size="8">{escape(r.id)}</text></a>')
    for s in [*machine.state_ids, PRIOR]:
        x, y = pos[s]
        state = None if s == PRIOR else machine.state(s)
        dashed = ' stroke-dasharray="4 3"' if (state is None or state.get("pseudo")) else ""
        fill = "#f6f8fa" if (state is None or state.get("pseudo")) else "#dafbe1"
        label = "status held before" if state is None else state["name"]
        extra = " (keeps prior)" if state and state.get("remembers_prior") else ""
        out.append(f'<g class="state" id="state-{escape(s)}"><rect x="{x}" y="{y}" width="{W}" height="{H}" rx="8" '
                   f'fill="{fill}" stroke="#0b3d5c"{dashed}/><text x="{x + W / 2}" y="{y + H / 2 + 4}" '
                   f'text-anchor="middle">{escape(label + extra)}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
