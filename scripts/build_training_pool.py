"""Draw a larger pool of real incidents for team labelling (training data for the coder's heads).

Reuses the example builder's rendering and exclusion rules with larger per-source targets and a
different seed, so the pool never overlaps the dev items. Items already in the bundled example
are kept with their example ids; the rest are new. Output: a CSV in the example's layout.

    python scripts/build_training_pool.py --out ../pool/pool.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_example as builder

POOL_TARGETS = {"cfpb": 260, "airline": 250, "twcs": 220, "booking": 200, "nhs_care_opinion": 200}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=builder.REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    builder.TARGETS = POOL_TARGETS
    builder.NHS_NEGATIVE = 120
    builder.SEED = 20261130
    rows, _ = builder.build(args.shared)
    dev_ids = {r["item_id"] for r in builder.read_csv(args.shared / "dev_items.csv")}
    example = builder.read_csv(builder.REPO / "src" / "covalue" / "data" / "example" / "incidents.csv")
    pool = {r["item_id"]: r for r in example if r["item_id"] not in dev_ids}
    for row in rows:
        if row["item_id"] not in dev_ids:
            pool.setdefault(row["item_id"], row)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, builder.HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(pool.values(), key=lambda r: (r["source"], r["item_id"])))
    args.out.write_text(buffer.getvalue(), encoding="utf-8")
    print(f"{args.out}: {len(pool)} incidents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
