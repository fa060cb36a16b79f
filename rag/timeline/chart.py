"""The timeline as a picture: meetings on a date axis, one mark per statement in its speaker's lane, changes in red.

    png, marks = draw_chart(timeline_dict)      # PNG bytes; marks: [(entry id, x_px, y_px)] from the top left

Lanes are the speakers' roles (the label as printed when there is no role), officials first; at most MAX_LANES, the
rest in one その他 lane. Undated statements sit at the right edge, in a band labelled 日付不明. Statements that take
part in a change get a red ring; a figure or stance change draws a red line from the earlier to the later one; a
reference to an earlier answer is a red star. `marks` lets a click on the image open the statement under it.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from matplotlib import font_manager

MAX_LANES = 10
KIND_COLOURS = {"executive": "#1f6feb", "secretariat": "#1a7f37", "member": "#d4731a", "chair": "#6e7781",
                "unknown": "#8250df"}
KIND_NAMES = {"executive": "執行部・理事者", "secretariat": "事務局", "member": "議員・委員", "chair": "議長・委員長",
              "unknown": "不明"}
CHANGE_COLOUR = "#cf222e"
_CJK_FONTS = ("IPAGothic", "IPAPGothic", "Noto Sans CJK JP", "Noto Sans JP", "TakaoGothic", "VL Gothic",
              "Hiragino Sans", "Yu Gothic", "IPAMincho")


def cjk_font() -> str | None:
    """A font that has Japanese glyphs, if one is installed (fonts-ipafont-gothic on Debian)."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in _CJK_FONTS if n in names), None)


def _lane(e: dict[str, Any]) -> str:
    role = e.get("speaker_role") or e.get("speaker") or "不明"
    return role if len(role) <= 14 else role[:13] + "…"


def draw_chart(d: dict[str, Any], width: float = 9.0, dpi: int = 100) -> tuple[bytes, list[tuple[str, float, float]]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    entries = d.get("entries") or []
    font = cjk_font()
    rc = {"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"], "axes.unicode_minus": False}
    japanese = font is not None
    with plt.rc_context(rc):
        order = {"executive": 0, "secretariat": 1, "member": 2, "chair": 3, "unknown": 4}
        counts: dict[str, tuple[int, int]] = {}
        for e in entries:
            lane = _lane(e)
            k, n = counts.get(lane, (order.get(e["speaker_kind"], 5), 0))
            counts[lane] = (min(k, order.get(e["speaker_kind"], 5)), n + 1)
        lanes = sorted(counts, key=lambda x: (counts[x][0], -counts[x][1], x))
        other = "その他" if japanese else "other"
        if len(lanes) > MAX_LANES:
            lanes = lanes[:MAX_LANES - 1] + [other]
        y_of = {lane: i for i, lane in enumerate(reversed(lanes))}
        dated = [date.fromisoformat(e["date"]) for e in entries if e.get("date")]
        lo = min(dated) if dated else date.today()
        hi = max(dated) if dated else date.today()
        span = max((hi - lo).days, 60)
        undated_x = hi + timedelta(days=max(30, span // 8))
        height = max(2.6, 0.42 * len(lanes) + 1.6)
        fig, ax = plt.subplots(figsize=(width, height), dpi=dpi)
        xs, ys, pos = [], [], {}
        seen: dict[tuple, int] = {}
        for e in entries:
            lane = _lane(e) if _lane(e) in y_of else other
            x = date.fromisoformat(e["date"]) if e.get("date") else undated_x
            k = seen.get((x, lane), 0)
            seen[(x, lane)] = k + 1
            xv = mdates.date2num(x) + k * max(2.0, span / 70)  # several statements on one day: side by side
            y = y_of[lane]
            pos[e["id"]] = (xv, y)
            ax.scatter([xv], [y], s=60, color=KIND_COLOURS.get(e["speaker_kind"], "#57606a"), zorder=3,
                       edgecolors="white", linewidths=0.8)
            xs.append(xv)
            ys.append(y)
        changed = set()
        for c in d.get("changes") or []:
            b, a = c.get("before"), c.get("after")
            if a and a.get("entry") in pos:
                changed.add(a["entry"])
            if b and b.get("entry") in pos:
                changed.add(b["entry"])
            if c["kind"] in ("figure", "stance") and b and a and b.get("entry") in pos and a.get("entry") in pos:
                (x0, y0), (x1, y1) = pos[b["entry"]], pos[a["entry"]]
                ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2,
                            arrowprops={"arrowstyle": "->", "color": CHANGE_COLOUR, "lw": 1.4,
                                        "connectionstyle": "arc3,rad=0.2"})
            if c["kind"] == "reference" and a and a.get("entry") in pos:
                x1, y1 = pos[a["entry"]]
                ax.scatter([x1], [y1 + 0.28], marker="*", s=90, color=CHANGE_COLOUR, zorder=4)
        for eid in changed:
            x, y = pos[eid]
            ax.scatter([x], [y], s=170, facecolors="none", edgecolors=CHANGE_COLOUR, linewidths=1.6, zorder=4)
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels(list(reversed(lanes)), fontsize=8)
        ax.set_ylim(-0.8, len(lanes) - 0.3)
        ax.xaxis_date()
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y" if span > 3 * 365 else "%Y-%m"))
        for day in {date.fromisoformat(e["date"]) for e in entries if e.get("date")}:  # one line per meeting day
            ax.axvline(mdates.date2num(day), color="#d0d7de", lw=0.8, ls=":", zorder=1)
        left = mdates.date2num(lo) - span / 20
        right = mdates.date2num(undated_x if any(not e.get("date") for e in entries) else hi) + span / 20
        ax.set_xlim(left, right)
        if any(not e.get("date") for e in entries):
            ux = mdates.date2num(undated_x)
            ax.axvspan(ux - span / 40, ux + span / 40 + 3, color="#eaeef2", zorder=0)
            ax.text(ux, len(lanes) - 0.45, "日付不明" if japanese else "undated", ha="center", va="bottom", fontsize=7)
        ax.grid(axis="x", alpha=0.3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        title = d.get("topic") or ""
        ax.set_title((title if japanese else "timeline")[:60], fontsize=10, loc="left")
        handles = [plt.Line2D([], [], marker="o", ls="", color=col, label=KIND_NAMES[k] if japanese else k)
                   for k, col in KIND_COLOURS.items() if any(e["speaker_kind"] == k for e in entries)]
        if changed:
            handles.append(plt.Line2D([], [], marker="o", ls="", markerfacecolor="none", markeredgecolor=CHANGE_COLOUR,
                                      label="変化・言及" if japanese else "change"))
        if handles:
            ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        fig.tight_layout()
        fig.canvas.draw()
        w_px, h_px = fig.canvas.get_width_height()
        marks = []
        for eid, (x, y) in pos.items():
            px, py = ax.transData.transform((x, y))
            marks.append((eid, float(px), float(h_px - py)))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
    return buf.getvalue(), marks


def nearest_mark(marks: list[tuple[str, float, float]], x: float, y: float, radius: float = 14.0) -> str | None:
    """The entry whose mark is under a click at pixel (x, y) of the image (None when the click hit no mark)."""
    best, best_d = None, radius * radius
    for eid, mx, my in marks:
        dd = (mx - x) ** 2 + (my - y) ** 2
        if dd <= best_d:
            best, best_d = eid, dd
    return best
