#!/usr/bin/env python3
"""Build the bundled example data set in ``src/covalue/data/example/``.

The example holds real, public service incidents from five sources, so that ``covalue demo`` runs
without any download:

* ``incidents.csv``  -- the 260 development incidents of ``shared/data/dev_items.csv`` plus about 240
  further incidents drawn (fixed seed) from the raw sets in ``shared/data/raw/``;
* ``labels_gold.csv`` -- the reference labels of the 260 development incidents (``dev_gold.csv``);
* ``SOURCES.md``     -- provenance, licences, attribution and how the file was built.

The build is deterministic: running it twice gives byte-identical files. Only the standard library
is used (csv, json, random with a fixed seed).

Usage::

    python scripts/build_example.py [--shared PATH] [--out PATH]

``--shared`` defaults to ``<repo>/../shared/data``; ``--out`` to ``<repo>/src/covalue/data/example``.

How each source is rendered (identical to the rendering used in ``dev_items.csv``, which this script
checks against the raw files before it adds anything):

* cfpb -- the consumer's narrative as published (``XXXX`` redactions kept); id ``cfpb-<Complaint ID>``.
* airline -- the tweet text; id ``air-<tweet_id>``.
* twcs -- a thread built from ``in_response_to_tweet_id``, starting at a conversation-opening customer
  tweet and walked breadth-first (replies in file order); one tweet per line, ``[customer] <text>``
  for inbound tweets and ``[<brand handle>] <text>`` for brand replies; id ``twcs-<first tweet_id>``.
* booking -- ``Liked: <positive text>`` and ``Disliked: <negative text>`` lines; a line is left out when
  the field is Booking's placeholder ``No Positive`` / ``No Negative``, empty, or just ``Nothing``;
  id ``booking-<n>`` where n is the review's row position in the source file *before* the project's
  withheld rows were removed (the numbering the development items use).
* nhs_care_opinion -- the patient's or carer's story; id ``nhs-<row_index>``.

All texts are stripped of leading and trailing white space; nothing else is changed.
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import io
import itertools
import json
import random
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = 20250127
TARGETS = {"cfpb": 60, "airline": 50, "twcs": 50, "booking": 40, "nhs_care_opinion": 40}
SOURCE_ORDER = ("airline", "booking", "cfpb", "nhs_care_opinion", "twcs")

RELATIONSHIP = {
    "cfpb": "B2C",
    "airline": "B2C",
    "twcs": "B2C",
    "booking": "B2C",
    "nhs_care_opinion": "G2C",
}
CHANNEL = {
    "cfpb": "regulator_complaint",
    "airline": "twitter",
    "twcs": "twitter",
    "booking": "review_site",
    "nhs_care_opinion": "feedback_site",
}
HEADER = [
    "item_id",
    "source",
    "relationship_type",
    "channel",
    "date",
    "customer_id",
    "thread_id",
    "text",
    "meta",
]

RAW = {
    "cfpb": "cfpb_consumer_complaints/complaints_sample.csv",
    "airline": "twitter_airline_sentiment/tweets.csv",
    "twcs": "customer_support_on_twitter/twcs_first5000.csv",
    "booking": "booking_hotel_reviews_europe/hotel_reviews_britannia_canary_wharf.csv",
    "nhs_care_opinion": "nhs_patient_feedback/care_opinion_stories.csv",
}

# Selection limits for the added incidents (in characters of the rendered text). They follow the
# range of the development items, keep the bundled file small and keep out one-word texts.
LIMITS = {
    "cfpb": (150, 1700),
    "airline": (40, 400),
    "twcs": (150, 1600),
    "booking": (80, 1000),
    "nhs_care_opinion": (100, 1600),
}
TWCS_TURNS = (3, 12)
NHS_CRITICALITY = {str(v) for v in range(-5, 6)}
NHS_NEGATIVE = 20  # of the 40 added NHS stories, this many with criticality <= -1, the rest >= 0

MONTHS = {
    m: i
    for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)
}


class BuildError(RuntimeError):
    pass


# ----------------------------------------------------------------------------------------- helpers
def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def norm(text: str) -> str:
    """Key for duplicate detection: white space collapsed, case folded."""
    return " ".join(text.split()).casefold()


def dumps(meta: dict) -> str:
    return json.dumps(meta, ensure_ascii=False)


def iso_slash_date(value: str) -> str:
    """``2019/10/23`` or ``2020/3/18`` (CFPB) -> ``2019-10-23``."""
    if not value:
        return ""
    y, m, d = (int(x) for x in value.split("/"))
    return f"{y:04d}-{m:02d}-{d:02d}"


def iso_us_date(value: str) -> str:
    """``4/9/2016`` (Booking, m/d/yyyy) -> ``2016-04-09``."""
    if not value:
        return ""
    m, d, y = (int(x) for x in value.split("/"))
    return f"{y:04d}-{m:02d}-{d:02d}"


def _offset(value: str) -> str:
    if not re.fullmatch(r"[+-]\d{4}", value):
        raise BuildError(f"bad UTC offset {value!r}")
    return f"{value[:3]}:{value[3:]}"


def iso_airline_time(value: str) -> str:
    """``2015-02-24 11:35:52 -0800`` -> ``2015-02-24T11:35:52-08:00``."""
    if not value:
        return ""
    day, clock, offset = value.split(" ")
    return f"{day}T{clock}{_offset(offset)}"


def iso_twitter_time(value: str) -> str:
    """``Tue Oct 31 22:10:47 +0000 2017`` -> ``2017-10-31T22:10:47+00:00`` (locale independent)."""
    _, mon, day, clock, offset, year = value.split(" ")
    return f"{int(year):04d}-{MONTHS[mon]:02d}-{int(day):02d}T{clock}{_offset(offset)}"


def sample(pool: list, k: int, source: str, label: str = "") -> list:
    """Deterministic sample: ``pool`` must already be in a fixed order."""
    if len(pool) < k:
        raise BuildError(f"{source}: only {len(pool)} candidates for {k} incidents {label}".strip())
    rng = random.Random(f"{SEED}:{source}:{label}")
    return rng.sample(pool, k)


def row(item_id, source, date, customer_id, thread_id, text, meta) -> dict[str, str]:
    return {
        "item_id": item_id,
        "source": source,
        "relationship_type": RELATIONSHIP[source],
        "channel": CHANNEL[source],
        "date": date,
        "customer_id": customer_id,
        "thread_id": thread_id,
        "text": text,
        "meta": meta,
    }


# ------------------------------------------------------------------------------------ renderings
def render_booking(rec: dict[str, str]) -> str:
    lines = []
    liked = rec["Positive_Review"].strip()
    disliked = rec["Negative_Review"].strip()
    if liked and liked != "No Positive" and liked.casefold() != "nothing":
        lines.append(f"Liked: {liked}")
    if disliked and disliked != "No Negative" and disliked.casefold() != "nothing":
        lines.append(f"Disliked: {disliked}")
    return "\n".join(lines)


class Twcs:
    def __init__(self, records: list[dict[str, str]]):
        self.by_id = {r["tweet_id"]: r for r in records}
        self.replies: dict[str, list[str]] = collections.defaultdict(list)
        for r in records:  # file order
            parent = r["in_response_to_tweet_id"]
            if parent:
                self.replies[str(int(float(parent)))].append(r["tweet_id"])
        self.roots = [r["tweet_id"] for r in records if r["inbound"] == "True" and not r["in_response_to_tweet_id"]]

    def thread(self, root: str) -> list[str]:
        """Breadth-first walk from the opening tweet; replies in file order."""
        order = [root]
        i = 0
        while i < len(order):
            order.extend(self.replies.get(order[i], ()))
            i += 1
        return order

    def render(self, ids: list[str]) -> str:
        turns = []
        for t in ids:
            rec = self.by_id[t]
            who = "customer" if rec["inbound"] == "True" else rec["author_id"]
            turns.append(f"[{who}] {rec['text']}")
        return "\n".join(turns)

    def brands(self, ids: list[str]) -> list[str]:
        out: list[str] = []
        for t in ids:
            rec = self.by_id[t]
            if rec["inbound"] != "True" and rec["author_id"] not in out:
                out.append(rec["author_id"])
        return out


# ------------------------------------------------------------------------------------------ build
def build(shared: Path) -> tuple[list[dict[str, str]], dict[str, dict[str, int]]]:
    raw = shared / "raw"
    dev = read_csv(shared / "dev_items.csv")
    if [list(dev[0].keys())] != [["item_id", "source", "text", "meta"]]:
        raise BuildError("dev_items.csv: unexpected header")
    dev_ids = {d["item_id"] for d in dev}
    dev_texts = {norm(d["text"]) for d in dev}
    if len(dev_ids) != len(dev):
        raise BuildError("dev_items.csv: duplicate item_id")
    dev_by_source: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for d in dev:
        if d["source"] not in RELATIONSHIP:
            raise BuildError(f"dev_items.csv: unknown source {d['source']!r}")
        dev_by_source[d["source"]].append(d)

    recs = {name: read_csv(raw / rel) for name, rel in RAW.items()}
    rows: list[dict[str, str]] = []
    counts: dict[str, dict[str, int]] = {s: {"dev": 0, "added": 0} for s in RELATIONSHIP}
    taken_texts = set(dev_texts)

    def admit(source: str, item_id: str, text: str) -> bool:
        return item_id not in dev_ids and norm(text) not in taken_texts and bool(text)

    def add(source: str, r: dict[str, str]) -> None:
        if not r["text"].strip():
            raise BuildError(f"{r['item_id']}: empty text")
        taken_texts.add(norm(r["text"]))
        rows.append(r)
        counts[source]["added"] += 1

    # ---- CFPB ---------------------------------------------------------------------------------
    cf = recs["cfpb"]
    cf_by_id = {r["Complaint ID"]: r for r in cf}
    if len(cf_by_id) != len(cf):
        raise BuildError("cfpb: duplicate Complaint ID")
    for d in dev_by_source["cfpb"]:
        meta = json.loads(d["meta"])
        src = cf_by_id.get(d["item_id"].removeprefix("cfpb-"))
        if src is None or src["Consumer complaint narrative"].strip() != d["text"]:
            raise BuildError(f"{d['item_id']}: not found in the raw CFPB file")
        rows.append(row(d["item_id"], "cfpb", iso_slash_date(meta.get("date", "")), "", "", d["text"], d["meta"]))
        counts["cfpb"]["dev"] += 1
    lo, hi = LIMITS["cfpb"]
    pool, seen = [], set()
    for r in sorted(cf, key=lambda r: int(r["Complaint ID"])):
        text = r["Consumer complaint narrative"].strip()
        key = norm(text)
        if not text or key in seen:
            continue
        seen.add(key)
        if lo <= len(text) <= hi and admit("cfpb", f"cfpb-{r['Complaint ID']}", text):
            pool.append((r, text))
    for r, text in sorted(sample(pool, TARGETS["cfpb"], "cfpb"), key=lambda p: int(p[0]["Complaint ID"])):
        meta = {
            "product": r["Product"],
            "issue": r["Issue"],
            "company": r["Company"],
            "company_response": r["Company response to consumer"],
            "date": r["Date received"],
        }
        add(
            "cfpb",
            row(
                f"cfpb-{r['Complaint ID']}",
                "cfpb",
                iso_slash_date(r["Date received"]),
                "",
                "",
                text,
                dumps(meta),
            ),
        )

    # ---- Airline tweets -----------------------------------------------------------------------
    air = recs["airline"]
    air_by_id: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for r in air:
        air_by_id[r["tweet_id"]].append(r)
    for d in dev_by_source["airline"]:
        meta = json.loads(d["meta"])
        src = air_by_id.get(d["item_id"].removeprefix("air-"))
        if not src or src[0]["text"].strip() != d["text"]:
            raise BuildError(f"{d['item_id']}: not found in the raw airline file")
        rows.append(
            row(
                d["item_id"],
                "airline",
                iso_airline_time(meta.get("created", "")),
                src[0]["name"],
                "",
                d["text"],
                d["meta"],
            )
        )
        counts["airline"]["dev"] += 1
    text_freq = collections.Counter(norm(r["text"]) for r in air)
    lo, hi = LIMITS["airline"]
    pool = []
    for tid in sorted(air_by_id, key=int):
        group = air_by_id[tid]
        text = group[0]["text"].strip()
        # a tweet id listed twice (in the original too) may carry two different crowd labels: skip it;
        # skip texts that occur more than once (copies, retweets)
        if len(group) != 1 or text_freq[norm(text)] != 1:
            continue
        if lo <= len(text) <= hi and admit("airline", f"air-{tid}", text):
            pool.append(group[0])
    for r in sorted(sample(pool, TARGETS["airline"], "airline"), key=lambda r: int(r["tweet_id"])):
        meta = {
            "airline": r["airline"],
            "sentiment": r["airline_sentiment"],
            "negativereason": r["negativereason"],
            "created": r["tweet_created"],
        }
        add(
            "airline",
            row(
                f"air-{r['tweet_id']}",
                "airline",
                iso_airline_time(r["tweet_created"]),
                r["name"],
                "",
                r["text"].strip(),
                dumps(meta),
            ),
        )

    # ---- Customer support on Twitter threads --------------------------------------------------
    tw = Twcs(recs["twcs"])
    used_tweets: set[str] = set()
    for d in dev_by_source["twcs"]:
        meta = json.loads(d["meta"])
        root = d["item_id"].removeprefix("twcs-")
        if root not in tw.by_id:
            raise BuildError(f"{d['item_id']}: opening tweet not in the raw TWCS file")
        ids = tw.thread(root)
        if tw.render(ids) != d["text"] or meta.get("turns") != len(ids):
            raise BuildError(f"{d['item_id']}: thread rendering differs from dev_items.csv")
        used_tweets.update(ids)
        opening = tw.by_id[root]
        rows.append(
            row(
                d["item_id"],
                "twcs",
                iso_twitter_time(opening["created_at"]),
                opening["author_id"],
                root,
                d["text"],
                d["meta"],
            )
        )
        counts["twcs"]["dev"] += 1
    lo, hi = LIMITS["twcs"]
    pool = []
    for root in sorted(tw.roots, key=int):
        if f"twcs-{root}" in dev_ids:
            continue
        ids = tw.thread(root)
        if not TWCS_TURNS[0] <= len(ids) <= TWCS_TURNS[1] or used_tweets.intersection(ids):
            continue
        if len(tw.brands(ids)) != 1:
            continue
        # keep "one turn per line" exact: leave out threads with a tweet that contains a line break
        if any("\n" in tw.by_id[t]["text"] or "\r" in tw.by_id[t]["text"] for t in ids):
            continue
        text = tw.render(ids)
        if lo <= len(text) <= hi and admit("twcs", f"twcs-{root}", text):
            pool.append((root, ids, text))
    for root, ids, text in sorted(sample(pool, TARGETS["twcs"], "twcs"), key=lambda p: int(p[0])):
        opening = tw.by_id[root]
        meta = {"brand": tw.brands(ids)[0], "turns": len(ids)}
        add(
            "twcs",
            row(
                f"twcs-{root}",
                "twcs",
                iso_twitter_time(opening["created_at"]),
                opening["author_id"],
                root,
                text,
                dumps(meta),
            ),
        )

    # ---- Booking hotel reviews ----------------------------------------------------------------
    bk = recs["booking"]
    rendered = [render_booking(r) for r in bk]
    where: dict[str, list[int]] = collections.defaultdict(list)
    for i, text in enumerate(rendered):
        where[text].append(i)
    anchors: list[tuple[int, int]] = []  # (row position in this copy, number in the dev item id)
    for d in dev_by_source["booking"]:
        meta = json.loads(d["meta"])
        hits = [
            i
            for i in where.get(d["text"], [])
            if bk[i]["Review_Date"] == meta.get("date") and bk[i]["Reviewer_Score"] == meta.get("score")
        ]
        if len(hits) != 1:
            raise BuildError(f"{d['item_id']}: found {len(hits)} matching rows in the raw Booking file")
        number = int(d["item_id"].removeprefix("booking-"))
        anchors.append((hits[0], number))
        rows.append(row(d["item_id"], "booking", iso_us_date(meta.get("date", "")), "", "", d["text"], d["meta"]))
        counts["booking"]["dev"] += 1
    anchors.sort()
    # The dev ids number the rows of the source file before the withheld rows were removed. Between
    # two dev items whose (id - position) offsets are equal no row was withheld, so the original
    # number of every row in between is known exactly; new reviews are drawn only from such stretches.
    numbered: dict[int, int] = {}
    for (pos_a, num_a), (pos_b, num_b) in itertools.pairwise(anchors):
        if num_a - pos_a < 0 or num_b - pos_b < num_a - pos_a:
            raise BuildError("booking: dev item ids are not in file order")
        if num_a - pos_a == num_b - pos_b:
            for pos in range(pos_a + 1, pos_b):
                numbered[pos] = pos + (num_a - pos_a)
    text_freq = collections.Counter(norm(t) for t in rendered)
    lo, hi = LIMITS["booking"]
    pool = []
    for pos in sorted(numbered):
        text = rendered[pos]
        if text_freq[norm(text)] != 1:
            continue
        if lo <= len(text) <= hi and admit("booking", f"booking-{numbered[pos]}", text):
            pool.append(pos)
    for pos in sorted(sample(pool, TARGETS["booking"], "booking")):
        r = bk[pos]
        meta = {
            "score": r["Reviewer_Score"],
            "date": r["Review_Date"],
            "nationality": r["Reviewer_Nationality"].strip(),
        }
        add(
            "booking",
            row(
                f"booking-{numbered[pos]}",
                "booking",
                iso_us_date(r["Review_Date"]),
                "",
                "",
                rendered[pos],
                dumps(meta),
            ),
        )

    # ---- NHS Care Opinion stories -------------------------------------------------------------
    co = recs["nhs_care_opinion"]
    co_by_index = {r["row_index"]: r for r in co}
    if len(co_by_index) != len(co):
        raise BuildError("nhs: duplicate row_index")
    for d in dev_by_source["nhs_care_opinion"]:
        src = co_by_index.get(d["item_id"].removeprefix("nhs-"))
        if src is None or src["feedback"].strip() != d["text"]:
            raise BuildError(f"{d['item_id']}: not found in the raw Care Opinion file")
        rows.append(row(d["item_id"], "nhs_care_opinion", "", "", "", d["text"], d["meta"]))
        counts["nhs_care_opinion"]["dev"] += 1
    text_freq = collections.Counter(norm(r["feedback"]) for r in co)
    lo, hi = LIMITS["nhs_care_opinion"]
    negative, other = [], []
    for r in sorted(co, key=lambda r: int(r["row_index"])):
        text = r["feedback"].strip()
        # dedupe on the story text (the same story can be listed under several themes)
        if text_freq[norm(text)] != 1 or r["criticality"] not in NHS_CRITICALITY or r["label"] in ("", "NA"):
            continue
        if lo <= len(text) <= hi and admit("nhs_care_opinion", f"nhs-{r['row_index']}", text):
            (negative if int(r["criticality"]) <= -1 else other).append(r)
    chosen = sample(negative, NHS_NEGATIVE, "nhs_care_opinion", "negative") + sample(
        other, TARGETS["nhs_care_opinion"] - NHS_NEGATIVE, "nhs_care_opinion", "other"
    )
    for r in sorted(chosen, key=lambda r: int(r["row_index"])):
        meta = {
            "organization": r["organization"],
            "criticality": r["criticality"],
            "label": r["label"],
            "relationship_type": "G2C",
        }
        add(
            "nhs_care_opinion",
            row(f"nhs-{r['row_index']}", "nhs_care_opinion", "", "", "", r["feedback"].strip(), dumps(meta)),
        )

    rows.sort(key=lambda r: (r["source"], r["item_id"]))
    check(rows, dev_ids)
    return rows, counts


def check(rows: list[dict[str, str]], dev_ids: set[str]) -> None:
    ids = [r["item_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise BuildError("duplicate item_id in incidents.csv")
    texts = [norm(r["text"]) for r in rows]
    if len(set(texts)) != len(texts):
        raise BuildError("duplicate text in incidents.csv")
    if any(not r["text"].strip() for r in rows):
        raise BuildError("empty text in incidents.csv")
    if not dev_ids <= set(ids):
        raise BuildError("a dev item is missing from incidents.csv")
    for r in rows:
        json.loads(r["meta"])
        if not r["item_id"].startswith(
            {"airline": "air-", "nhs_care_opinion": "nhs-"}.get(r["source"], r["source"] + "-")
        ):
            raise BuildError(f"{r['item_id']}: id does not follow the scheme of its source")


def incidents_csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def gold_csv(shared: Path, dev_ids: set[str]) -> bytes:
    """dev_gold.csv as it is (header, order and bytes), after checking it covers exactly the dev items."""
    data = (shared / "dev_gold.csv").read_bytes()
    gold = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    gold_ids = [g["item_id"] for g in gold]
    if len(set(gold_ids)) != len(gold_ids) or set(gold_ids) != dev_ids:
        raise BuildError("dev_gold.csv does not hold exactly one row per dev item")
    return data


# ------------------------------------------------------------------------------------- SOURCES.md
SOURCES_TEMPLATE = """\
# Sources of the bundled example

`incidents.csv` holds {total} real service incidents written by customers, patients and carers, taken
from five public data sets. `labels_gold.csv` holds reference labels for {n_gold} of them. Nothing here is
synthetic. The texts are short excerpts of larger public collections, shipped so that `covalue demo`
runs without a download; **the licence of each source applies to its rows** (see below). Keep this file
with any copy of the data.

The file was built by `scripts/build_example.py` (fixed random seed {seed}; re-running it gives
byte-identical files) from the project's shared data folder, whose `raw/<set>/SOURCE.md` notes are the
origin of the provenance details below.

| source | relationship | channel | incidents | with reference labels | added for the example |
|---|---|---|---:|---:|---:|
{table}
| **total** | | | **{total}** | **{n_gold}** | **{n_added}** |

## Columns of `incidents.csv`

`item_id` (unique; the scheme of each source is given below), `source`, `relationship_type` (B2C
business-to-consumer, G2C government/public service-to-citizen), `channel`, `date` (ISO 8601: a day,
or a timestamp with UTC offset for tweets; empty where the source gives none), `customer_id` (the
anonymised customer id of a support thread, the screen name of an airline tweet's author; empty
otherwise), `thread_id` (the opening tweet of a support thread), `text`, `meta` (a JSON object with the
source's own fields and labels). Rows are sorted by source, then item_id.

## How the texts are rendered

Texts are as published, with leading and trailing white space removed. Two sources are rendered:

- Support threads: one tweet per line, `[customer] <text>` for tweets from customers and
  `[<brand handle>] <text>` for replies from the brand's support account. The thread starts at a
  customer tweet that replies to nothing, and follows `in_response_to_tweet_id` breadth-first (replies
  in file order), so parallel replies appear side by side.
- Hotel reviews: a `Liked: <text>` line and a `Disliked: <text>` line, from the review's separate
  positive and negative fields. A line is left out when its field is Booking's placeholder
  (`No Positive` / `No Negative`), empty, or just "Nothing".

## The sources

### cfpb: CFPB Consumer Complaint Database ({n_cfpb} incidents)

Complaints that US consumers filed with the Consumer Financial Protection Bureau about financial
companies (credit reporting, debt collection, mortgages, cards, bank accounts, student loans ...).
The text is the consumer's own narrative, published only where the consumer consented; the CFPB
scrubbed personal data before publishing (the `XXXX` redactions). `meta` keeps the consumer-chosen
`product` and `issue`, the `company`, the company's response (`company_response`, e.g. "Closed with
explanation") and the date received as written in the file (`2019/10/23`).

- Taken from a 6,623-complaint sample in https://github.com/ZiyuYan9/consumer_complaints (a university
  homework repository), file `complaints_sample.csv`, snapshot commit
  `ecece4d9228ad0198cd175e59e355a768ebd385b` (2020-04-07); the file was added in commit
  `715893bebf37fac632374ca7cbcde307069fd35f` (2020-04-07), blob `91d4a37dd8141cfe6d2970258e7fec0d6e7cf85a`.
  The repository does not say how the sample was drawn from the full CFPB export. Dates received are
  mostly 2019, with some from 2015 to March 2020. The shared copy was only re-written with `\\n` line
  endings (the source used CRLF).
- Licence: the repository has no licence file or statement. The data is the CFPB's public Consumer
  Complaint Database, a publication of the US federal government (US government public data). The
  Hugging Face `consumer-finance-complaints` card lists "upl-1.0"; the CFPB's own terms were not checked.
  Attribution: "Consumer Financial Protection Bureau, Consumer Complaint Database".
- Ids: `cfpb-<Complaint ID>`. Selection of the {a_cfpb} added complaints: rows with a non-empty narrative of
  {lo_cfpb} to {hi_cfpb} characters, one row per distinct narrative, none already among the labelled items,
  drawn at random.

### airline: Twitter US Airline Sentiment ({n_airline} incidents)

Tweets addressed to six US airlines (Virgin America, United, Southwest, Delta, US Airways, American)
between 16 and 24 February 2015, with crowd-sourced labels. `meta` keeps `airline`, the crowd's
`sentiment` (negative / neutral / positive), its `negativereason` (for negative tweets, e.g. "Late
Flight", "Customer Service Issue") and the `created` timestamp. `customer_id` is the author's screen
name as given in the data set. The texts are raw tweets (with @mentions, URLs and HTML entities such
as `&amp;`).

- Original: Crowdflower (Figure Eight) "Data for Everyone", republished on Kaggle as
  crowdflower/twitter-airline-sentiment. Copy used: https://github.com/Moomootank/twitter-airline-sentiment,
  file `raw_data/Tweets.csv`, snapshot commit `eb92cfbb2402ed6bc6405fcb2cf27b2360f77fcc` (2017-09-02),
  added in commit `a346d9e6f6ccf6c31033188ff2bd03ff025e69cc` (2017-06-27, "Adding raw data files"), blob
  `f83577836b94b1f961eccc6f90c4c1b6d5c5a904`; chosen because it keeps the full 18-digit tweet ids and
  timestamps that many other copies lost to spreadsheet software, and it is byte-identical in size to the
  Kaggle original.
- Licence: the repository has no licence file or statement. A Hugging Face card converted from the Kaggle
  upload lists **CC BY-NC-SA 4.0**: non-commercial use only, share-alike, attribution required.
  Attribution: "Twitter US Airline Sentiment, Crowdflower / Figure Eight (Data for Everyone), via Kaggle".
- Ids: `air-<tweet_id>`. Selection of the {a_airline} added tweets: tweets of {lo_airline} characters or more
  whose id occurs once in the file (some ids appear twice, sometimes with different labels) and whose text
  occurs once, none already among the labelled items, drawn at random.

### twcs: Customer Support on Twitter ({n_twcs} incidents)

Whole conversations between customers and the support accounts of large brands on Twitter
(AmazonHelp, AppleSupport, Uber_Support, Delta, sprintcare, comcastcares, SpotifyCares, ...), from
October and November 2017. Customers' handles were replaced with numeric ids, and e-mail addresses and
phone numbers masked, by the data set's author. `meta` keeps the `brand` handle and the number of
`turns` (tweets) in the thread; `customer_id` is the anonymised id of the customer who opened it,
`thread_id` and `date` come from the opening tweet.

- Original: Kaggle "Customer Support on Twitter" by Thought Vector (thoughtvector), about 2.8 million
  tweets. Copy used: its first 5,000 rows (tweet ids 1 to 7,630), in
  https://github.com/monalisapatra26/data_visualization, file `twcs.csv`, snapshot commit
  `40f027927281c1193b45982e5623487ad49da67e` (2021-11-10), added in commit
  `b79b6dcf2a30f84bdfdf66ff9f69f03540bfd6d6` (2021-10-01, "Add files via upload"), blob
  `097918169731b54accfd4aecf8d35d2d3c59a1b7`. The shared copy dropped the file's unnamed pandas index
  column, replaced two bare carriage returns inside tweet 3399 with spaces (they broke CSV parsing), and
  re-quoted the CSV; nothing else was changed.
- Licence: the repository has no licence file or statement; the Kaggle page was not checked. Hugging Face
  re-uploads derived from the data set list **CC BY-NC-SA 4.0**: non-commercial use only, share-alike,
  attribution required. Attribution: "Customer Support on Twitter, Thought Vector, via Kaggle".
- Ids: `twcs-<tweet_id of the opening tweet>`. Selection of the {a_twcs} added threads: threads opened by a
  customer tweet, with {t_lo} to {t_hi} turns, answered by exactly one brand account, no tweet spanning more
  than one line (so each line is exactly one turn), {lo_twcs} to {hi_twcs} characters, none already among the
  labelled items, drawn at random. (A few of the labelled threads do contain multi-line tweets, so in them
  the number of lines can exceed `turns`.)

### booking: 515K Hotel Reviews Data in Europe, one hotel ({n_booking} incidents)

Guest reviews from Booking.com of one hotel, the Britannia International Hotel Canary Wharf in London,
written between August 2015 and August 2017. Each review has a separate "liked" and "disliked" text,
which the example renders as two lines. The Kaggle author removed punctuation from the texts (hence
"We weren t told"). `meta` keeps the guest's `score` (2.5 to 10) and the review `date` as written in the
file (m/d/yyyy); the added reviews also keep the reviewer's `nationality`.

- Original: Kaggle "515K Hotel Reviews Data in Europe" by jiashenliu
  (https://www.kaggle.com/jiashenliu/515k-hotel-reviews-data-in-europe; 515,738 reviews of 1,492 hotels),
  scraped from Booking.com by the Kaggle author. Copy used: the repository author's subset of the most
  reviewed hotel (all its 4,789 reviews) in https://github.com/juliabarrufet/NLP-project, file
  `Hotel_Reviews.csv`, snapshot commit `83a63da2da097d51776125716166359231377353` (2021-01-11), added in
  commit `5c9a73626952c1f6b8a0c555d47d55544d7c89f1` (2021-01-11), blob
  `bf5eef42ddc61f93d879bbe6d8e859fca0ba6b6b`. Only the CSV quoting was changed in the shared copy.
- Licence: the repository has no licence file or statement, and the Kaggle page's licence was not
  checked. **Treat these rows as research-only (non-commercial) until the licence is confirmed.**
  Attribution: "515K Hotel Reviews Data in Europe (jiashenliu, Kaggle), reviews from Booking.com".
- Ids: `booking-<n>`, n being the review's row position in the source file. The shared copy lacks a few
  rows that the project keeps for evaluation, so positions were recovered from the labelled items: the added
  reviews come only from stretches of the file between two labelled reviews with no withheld row between
  them, where the position is exact. Selection of the {a_booking} added reviews: such reviews whose rendered
  text has {lo_booking} to {hi_booking} characters and occurs once, drawn at random.

### nhs_care_opinion: NHS patient and carer stories from Care Opinion ({n_nhs} incidents)

Stories that patients and carers published on Care Opinion about NHS services in England (mental
health crisis and community teams, children's centres, hospitals, patient transport ...): public
services, hence G2C. NHS staff coded each story with one theme (`label`, e.g. "Staff", "Access",
"Communication", "Care received") and a `criticality` from -5 (highly critical) to +5 (highly
positive); `meta` keeps both. The stories give no date.

- Source: the NHS England-funded "Patient Experience Qualitative Data Categorisation" project,
  https://github.com/The-Strategy-Unit/pxtextmining (formerly CDU-data-science-team/pxtextmining), file
  `datasets/phase_1/co.csv` (the project's "phase 1" file, kept for historical interest), snapshot commit
  `ba6c0a2f10ca9bb3b964b72afe6047b463095c75` (2025-01-27); last commit touching the file
  `1f3ae7601d1738cbd41df1ed37e84f980da0f415`. The rows were "generated from the Care Opinion API".
  (The shared data folder also holds Friends and Family Test comments from the same repository,
  `datasets/v6framework_230831.csv`, whose licence is the repository's MIT licence, Copyright 2021 NHS
  England, with attribution to NHS England and the trusts; none of them is in this example.)
- Licence: **CC BY-NC-SA 4.0** for the Care Opinion rows: non-commercial use only, share-alike,
  attribution required. Attribution: "Stories from Care Opinion (www.careopinion.org.uk), CC BY-NC-SA 4.0,
  via the pxtextmining project (NHS England / The Strategy Unit)".
- Ids: `nhs-<row_index>`. Selection of the {a_nhs} added stories: one row per distinct story text (a story can
  be listed under several themes), a valid criticality and theme, {lo_nhs} to {hi_nhs} characters, none
  already among the labelled items; {nhs_neg} drawn at random from critical stories (criticality -1 or lower)
  and {nhs_other} from the others, since most stories are thanks.

## Reference labels: `labels_gold.csv`

`labels_gold.csv` holds reference labels for the {n_gold} incidents that came from the project's development
set (the others are unlabelled). Each was coded independently by two annotators following the project's
annotation guide, and their disagreements were then adjudicated. The columns are those of the guide:
`item_id, valence, reasons, negative_factors, positive_factors, phase, initiator, wellbeing_decline,
coping, resources_lost`; multi-valued fields are `;`-separated.

Agreement of the two annotators before adjudication (Cohen's kappa; for multi-valued fields pooled over
the code-by-incident decisions): valence 0.92, phase 0.83, initiator 0.76, well-being decline 0.91,
reasons 0.85, negative factors 0.90, positive factors 0.82, coping 0.95, resources lost 0.87.

Label counts: valence co_destruction 168, mixed 36, co_creation 34, no_creation 22. Reasons by
aggregate dimension: R4 226, R9 61, R1 42, R3 27, R5 7, R2 5, R6 4, R8 3, and R7 none (customer
misbehaviour is rare in texts that customers write).

## Licence summary

The package code is Apache-2.0, but these data are not: each row keeps the licence of its source.
The CFPB complaints are US government public data. The airline tweets, the support threads and the
Care Opinion stories are CC BY-NC-SA 4.0 as stated above (non-commercial, share-alike, with
attribution), and the hotel reviews have no confirmed licence and are for research only. Do not use
the example for commercial purposes, and keep this file with any copy of it.
"""


def sources_md(counts: dict[str, dict[str, int]], n_gold: int) -> bytes:
    table = "\n".join(
        f"| {s} | {RELATIONSHIP[s]} | {CHANNEL[s]} | {c['dev'] + c['added']} | {c['dev']} | {c['added']} |"
        for s, c in ((s, counts[s]) for s in SOURCE_ORDER)
    )
    n = {s: counts[s]["dev"] + counts[s]["added"] for s in counts}
    a = {s: counts[s]["added"] for s in counts}
    text = SOURCES_TEMPLATE.format(
        total=sum(n.values()),
        n_gold=n_gold,
        n_added=sum(a.values()),
        seed=SEED,
        table=table,
        n_cfpb=n["cfpb"],
        a_cfpb=a["cfpb"],
        lo_cfpb=LIMITS["cfpb"][0],
        hi_cfpb=f"{LIMITS['cfpb'][1]:,}",
        n_airline=n["airline"],
        a_airline=a["airline"],
        lo_airline=LIMITS["airline"][0],
        n_twcs=n["twcs"],
        a_twcs=a["twcs"],
        lo_twcs=LIMITS["twcs"][0],
        hi_twcs=f"{LIMITS['twcs'][1]:,}",
        t_lo=TWCS_TURNS[0],
        t_hi=TWCS_TURNS[1],
        n_booking=n["booking"],
        a_booking=a["booking"],
        lo_booking=LIMITS["booking"][0],
        hi_booking=f"{LIMITS['booking'][1]:,}",
        n_nhs=n["nhs_care_opinion"],
        a_nhs=a["nhs_care_opinion"],
        lo_nhs=LIMITS["nhs_care_opinion"][0],
        hi_nhs=f"{LIMITS['nhs_care_opinion'][1]:,}",
        nhs_neg=NHS_NEGATIVE,
        nhs_other=TARGETS["nhs_care_opinion"] - NHS_NEGATIVE,
    )
    return text.encode("utf-8")


# ------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="shared data folder (default: <repo>/../shared/data)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "src" / "covalue" / "data" / "example",
        help="output folder (default: <repo>/src/covalue/data/example)",
    )
    args = parser.parse_args(argv)

    try:
        rows, counts = build(args.shared)
        dev_ids = {r["item_id"] for r in read_csv(args.shared / "dev_items.csv")}
        files = {
            "incidents.csv": incidents_csv(rows),
            "labels_gold.csv": gold_csv(args.shared, dev_ids),
        }
        files["SOURCES.md"] = sources_md(counts, len(dev_ids))
    except BuildError as exc:
        print(f"build_example: {exc}", file=sys.stderr)
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    # the example folder is a package resource (covalue.data.example): make sure both levels are packages
    for package in (args.out, args.out.parent):
        if package.name in ("example", "data") and not (package / "__init__.py").exists():
            (package / "__init__.py").touch()
    for name, data in files.items():
        target = args.out / name
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(data)
        shutil.move(tmp, target)
        print(f"{target}  {len(data):,} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}")
    for s in SOURCE_ORDER:
        c = counts[s]
        print(f"  {s:18} {c['dev'] + c['added']:4}  (labelled {c['dev']}, added {c['added']})")
    print(f"  {'total':18} {len(rows):4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
