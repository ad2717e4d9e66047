"""A tiny document model rendered twice: Markdown (images as files) and one self-contained HTML page
(images inlined as base64, CSS inline, no scripts, nothing fetched)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str  # `code` spans are the only markup


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric_from: int = 1  # columns from here on are right-aligned


@dataclass
class Image:
    filename: str  # under img/
    png: bytes
    caption: str


@dataclass
class Document:
    title: str
    blocks: list[Heading | Para | Table | Image] = field(default_factory=list)

    def add(self, *blocks: Heading | Para | Table | Image) -> None:
        self.blocks.extend(blocks)


# ---------------------------------------------------------------------- Markdown
def to_markdown(doc: Document, image_dir: str = "img") -> str:
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += [f"{'#' * (b.level + 1)} {b.text}", ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Table):
            cells = lambda row: "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"  # noqa: E731
            align = ["---" if i < b.numeric_from else "---:" for i in range(len(b.header))]
            out += [cells(b.header), "|" + "|".join(align) + "|", *[cells(r) for r in b.rows], ""]
        elif isinstance(b, Image):
            out += [f"![{b.caption}]({image_dir}/{b.filename})", "", f"*{b.caption}*", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------- HTML
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;line-height:1.45;padding:0 1rem}
h1{border-bottom:2px solid #4C72B0;padding-bottom:.3rem}
h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
h3{margin-top:1.6rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.86rem}
th,td{border:1px solid #ddd;padding:.25rem .55rem}
th{background:#f3f5f9;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ci{color:#888;font-size:.85em}
tr:nth-child(even) td{background:#fafafa}
code{background:#f2f2f2;padding:0 .25rem;border-radius:3px;font-size:.9em}
figure{margin:1rem 0}
figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.85rem}
.better{color:#1a7f37;font-weight:600}.worse{color:#c0392b;font-weight:600}.same{color:#666}
"""


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"(\[-?[\d.]+, -?[\d.]+\])", r'<span class="ci">\1</span>', escaped)  # intervals
    for word, cls in (("better", "better"), ("worse", "worse"), ("not distinguishable", "same")):
        escaped = re.sub(rf"^{word}\b", f'<span class="{cls}">{word}</span>', escaped)
    return escaped


def to_html(doc: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    for b in doc.blocks:
        if isinstance(b, Heading):
            level = min(b.level + 1, 6)
            parts.append(f"<h{level}>{_inline(b.text)}</h{level}>")
        elif isinstance(b, Para):
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            rows = []
            for r in b.rows:
                cells = "".join(
                    f'<td class="num">{_inline(c)}</td>' if i >= b.numeric_from else f"<td>{_inline(c)}</td>"
                    for i, c in enumerate(r)
                )
                rows.append(f"<tr>{cells}</tr>")
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.png).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline(b.caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)
