"""What the model-card writers share: a benchmark's markdown, re-titled as a card section."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench_section(bench: str, title: str) -> list[str]:
    """Card lines for bench/results/<bench>.md under a "## title" heading: its paragraphs and tables after its
    own title, sub-headings one level down; nothing when the benchmark has not run."""
    path = ROOT / "bench" / "results" / f"{bench}.md"
    if not path.exists():
        return []
    out = ["", f"## {title}"]
    for part in path.read_text().strip().split("\n\n")[1:]:
        out += ["", "#" + part if part.startswith("## ") else part]
    return out
