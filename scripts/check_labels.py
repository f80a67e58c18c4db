"""Check a batch of team labels before it joins the training data.

    python scripts/check_labels.py BATCH.csv LABELS.csv

BATCH.csv lists the incidents to label (``item_id`` column); LABELS.csv holds the labels in the
annotation-guide format. Every value must be a codable ``vcd`` code, single-valued fields need
exactly one value, and ``reasons`` must be present exactly when valence is co-destruction or
mixed. Exit code 1 when anything is wrong.
"""

from __future__ import annotations

import csv
import sys

from covalue.framework import load_codebook
from covalue.model.labels import GUIDE_FIELDS, parse_label_value

REQUIRED = ("valence", "phase", "initiator", "wellbeing_decline")
NEEDS_REASONS = ("co_destruction", "mixed")


def read(path: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def check(batch: str, labels: str) -> tuple[list[str], list[str], int]:
    vcd = load_codebook("vcd")
    wanted = [row["item_id"] for row in read(batch)]
    rows = read(labels)
    errors: list[str] = []
    header = list(rows[0]) if rows else []
    if header[:10] != ["item_id", *GUIDE_FIELDS]:
        errors.append(f"header must start with item_id,{','.join(GUIDE_FIELDS)}; got {header}")
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        item = row["item_id"]
        if item in seen:
            errors.append(f"line {line}: {item} labelled twice")
        seen.add(item)
        if item not in wanted:
            errors.append(f"line {line}: {item} is not in the batch")
        values = {}
        for field in GUIDE_FIELDS:
            try:
                values[field] = parse_label_value(vcd, field, row.get(field))
            except ValueError as exc:
                errors.append(f"line {line} {item} {field}: {exc}")
                values[field] = ()
        errors += [f"line {line} {item}: {field} is required" for field in REQUIRED if not values[field]]
        valence = values["valence"][:1]
        if valence and (valence[0] in NEEDS_REASONS) != bool(values["reasons"]):
            errors.append(f"line {line} {item}: reasons must be given exactly when valence is co_destruction or mixed")
    missing = [item for item in wanted if item not in seen]
    return errors, missing, len(rows)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    errors, missing, count = check(*argv)
    print(f"{count} rows, {len(missing)} batch items not labelled yet, {len(errors)} errors")
    for error in errors[:50]:
        print(" ", error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
