"""Deployable exports of a built docs/ folder: size, entries (each file parsed in its format) and rules left out, by target.

Usage: bench/export_report.py DOCS_DIR   (after `atc build --rules ../shared/corpora/sigma/rules --no-site --docs-dir DOCS_DIR`)
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter
from pathlib import Path

import yaml


def entries(path: Path) -> int:
    """How many rules the file holds, counted by parsing it in its format."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".conf":
        return len([name for name in re.findall(r"^\[(.*)\]$", text, re.M) if name != "default"])
    if path.suffix == ".ndjson":
        return len([json.loads(line) for line in text.splitlines() if line.strip()])
    if path.suffix == ".yml":
        return sum(len(group["rules"]) for group in yaml.load(text, Loader=yaml.CSafeLoader)["groups"])
    return len(json.loads(text))


def main(docs: Path) -> None:
    print("| Target | File | Size | Rules in it | Not converted | Commonest reason |")
    print("|:--|:--|--:|--:|--:|:--|")
    for folder in sorted((docs / "exports").iterdir()):
        rows = list(csv.DictReader((folder / "not-converted.csv").open(encoding="utf-8")))
        reason, count = Counter(row["reason"][:80] for row in rows).most_common(1)[0] if rows else ("", 0)
        for file in sorted(p for p in folder.iterdir() if p.name != "not-converted.csv"):
            size = file.stat().st_size / 1e6
            print(f"| {folder.name} | {file.name} | {size:.1f} MB | {entries(file)} | {len(rows)} | {reason} ({count}) |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
