"""Loss spirals and service recovery in real customer-support threads on Twitter, end to end.

    python scripts/spirals_support_threads.py                       # findings as text
    python scripts/spirals_support_threads.py --json findings.json  # and every number as JSON
    python scripts/spirals_support_threads.py --show-spirals 20     # print 20 flagged threads to read

Data: ``shared/data/raw/customer_support_on_twitter/twcs_first5000.csv`` (first 5,000 rows of the
Kaggle "Customer Support on Twitter" corpus by Thought Vector; see the SOURCE.md beside it for
provenance and licence, CC BY-NC-SA 4.0 as listed by its re-uploads).

Steps: read the tweets -> rebuild threads by following ``in_response_to_tweet_id`` to the root ->
one incident per tweet (thread_id = root tweet id, thread_position = order in time, customer_id =
the thread's customer, provider = the brand account answering) -> code every tweet with the
bundled ``fast`` coder -> analysis frame (``covalue.analysis.frame.build_frame``) -> loss spirals
and recovery over each thread's *customer* turns; brand turns only say whether the brand replied
or offered recovery after the loss (``SpiralConfig.role_column``). Why: the codes describe the
text's own author's value outcome only for customer tweets; the coder, trained on whole threads
told from the customer's side, codes a brand's apology ("sorry your parcel arrived damaged") as
co-destruction, which would invent losses the customer never reported.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import textwrap
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd

from covalue.analysis.frame import build_frame
from covalue.analysis.spirals import (
    SpiralConfig,
    detect_spirals,
    recovery_rates,
    sequences,
    spiral_summary,
)
from covalue.coding.training import load_model
from covalue.framework.codebook import Codebook
from covalue.model.incident import Incident
from covalue.model.labels import LabelRow

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "raw" / "customer_support_on_twitter" / "twcs_first5000.csv"
SOURCE = "twcs"  # the source name the bundled coder was trained with for these threads
ROLE = "role"
CUSTOMER, BRAND, OTHER = "customer", "provider", "other"
UNKNOWN_PROVIDER = "(unknown)"
CONFIG = SpiralConfig(role_column=ROLE, analysed_roles=(CUSTOMER,))
_MENTION = re.compile(r"@(\w+)")


def read_tweets(path: str | Path = DEFAULT_CSV) -> pd.DataFrame:
    """The CSV with ids as strings, ``inbound`` as bool, ``created_at`` as UTC and ``parent`` id."""
    tweets = pd.read_csv(path, dtype={"tweet_id": str, "author_id": str, "response_tweet_id": str})
    tweets["inbound"] = tweets["inbound"].astype(str).str.lower().eq("true")
    tweets["created_at"] = pd.to_datetime(tweets["created_at"], format="%a %b %d %H:%M:%S %z %Y", utc=True)
    parent = pd.to_numeric(tweets["in_response_to_tweet_id"], errors="coerce")
    tweets["parent"] = [None if math.isnan(p) else str(int(p)) for p in parent]
    tweets["text"] = tweets["text"].fillna("")
    return tweets


def thread_roots(tweets: pd.DataFrame) -> dict[str, str]:
    """tweet id -> root tweet id, following replies up while the parent is in the file."""
    parent = dict(zip(tweets["tweet_id"], tweets["parent"], strict=True))
    roots: dict[str, str] = {}
    for tweet in parent:
        path = [tweet]
        node = tweet
        while parent.get(node) in parent and parent[node] not in path and node not in roots:
            node = parent[node]
            path.append(node)
        root = roots.get(node, node)
        for visited in path:
            roots[visited] = root
    return roots


def thread_incidents(tweets: pd.DataFrame) -> list[Incident]:
    """One incident per tweet, threads in order of their first tweet, turns in time order.

    The thread's customer is the author of the tweet the brand first answers (else the root's
    author, else the first customer tweet's); other customers who join a thread get role
    ``other`` and are not analysed. The provider is the brand account with most replies in the
    thread; an unanswered thread takes the first brand handle its customer mentions.
    """
    roots = thread_roots(tweets)
    records = sorted(tweets.to_dict("records"), key=lambda t: (t["created_at"], int(t["tweet_id"])))
    brands = {t["author_id"].lower(): t["author_id"] for t in records if not t["inbound"]}
    by_id = {t["tweet_id"]: t for t in records}
    threads: dict[str, list[dict]] = {}
    for tweet in records:  # in time order, so threads come in order of their first tweet
        threads.setdefault(roots[tweet["tweet_id"]], []).append(tweet)
    incidents: list[Incident] = []
    for root, turns in threads.items():
        customer = _thread_customer(root, turns, by_id)
        provider = _thread_provider(turns, customer, brands)
        for position, turn in enumerate(turns, start=1):
            role = BRAND if not turn["inbound"] else (CUSTOMER if turn["author_id"] == customer else OTHER)
            incidents.append(
                Incident(
                    external_id=turn["tweet_id"],
                    text=turn["text"],
                    source=SOURCE,
                    channel="twitter",
                    occurred_at=turn["created_at"].to_pydatetime(),
                    customer_id=customer,
                    thread_id=root,
                    thread_position=position,
                    metadata={"provider": provider, ROLE: role, "author_id": turn["author_id"]},
                )
            )
    return incidents


def _thread_customer(root: str, turns: list[dict], by_id: dict[str, dict]) -> str | None:
    for turn in turns:
        parent = by_id.get(turn["parent"]) if turn["parent"] else None
        if not turn["inbound"] and parent is not None and parent["inbound"]:
            return parent["author_id"]
    if by_id[root]["inbound"]:
        return by_id[root]["author_id"]
    return next((t["author_id"] for t in turns if t["inbound"]), None)


def _thread_provider(turns: list[dict], customer: str | None, brands: dict[str, str]) -> str:
    replies = [t["author_id"] for t in turns if not t["inbound"]]
    if replies:
        counts = Counter(replies)
        best = max(counts.values())
        return next(a for a in replies if counts[a] == best)
    for turn in turns:
        if turn["author_id"] == customer:
            for handle in _MENTION.findall(turn["text"]):
                if handle.lower() in brands:
                    return brands[handle.lower()]
    return UNKNOWN_PROVIDER


def code_incidents(incidents: list[Incident], model: str = "fast") -> tuple[Codebook, dict[str, LabelRow]]:
    """Code every incident with a trained model (``fast`` is the bundled default coder)."""
    coder = load_model(model)
    codings = coder.predict(
        [i.text for i in incidents], [i.source for i in incidents], [i.external_id for i in incidents], evidence=False
    )
    return coder.codebook, {c.incident_id: c.to_label_row() for c in codings}


def support_frame(incidents: list[Incident], rows: dict[str, LabelRow], codebook: Codebook) -> pd.DataFrame:
    """The analysis frame plus the ``role`` and ``author_id`` columns the thread analysis needs."""
    frame = build_frame(incidents, rows, codebook)
    meta = {i.external_id: i.metadata for i in incidents}
    frame[ROLE] = [meta[item][ROLE] for item in frame["item_id"]]
    frame["author_id"] = [meta[item]["author_id"] for item in frame["item_id"]]
    return frame


def analyse(csv_path: str | Path = DEFAULT_CSV, model: str = "fast") -> dict:
    """Everything the findings need: the frame, spiral table, summary and rate tables."""
    tweets = read_tweets(csv_path)
    incidents = thread_incidents(tweets)
    codebook, rows = code_incidents(incidents, model)
    frame = support_frame(incidents, rows, codebook)
    spirals = detect_spirals(frame, codebook, by="thread_id", config=CONFIG)
    return {
        "tweets": tweets,
        "frame": frame,
        "codebook": codebook,
        "spirals": spirals,
        "summary": spiral_summary(spirals),
        "by_provider": recovery_rates(spirals, by="provider"),
        "by_reason": recovery_rates(spirals, by="reason"),
        "by_theme": recovery_rates(spirals, by="reason", level="theme"),
    }


def counts(result: dict) -> dict:
    """Thread-level counts that come before the detector: threads, turns, multi-turn threads."""
    frame = result["frame"]
    customer_turns = frame[frame[ROLE] == CUSTOMER].groupby("thread_id").size()
    spirals = result["spirals"]
    losses = spirals[spirals["has_loss"]]
    return {
        "tweets": len(result["tweets"]),
        "threads": int(frame["thread_id"].nunique()),
        "customer_turns": int((frame[ROLE] == CUSTOMER).sum()),
        "brand_turns": int((frame[ROLE] == BRAND).sum()),
        "other_customer_turns": int((frame[ROLE] == OTHER).sum()),
        "threads_with_2plus_customer_turns": int((customer_turns >= 2).sum()),
        "customer_turn_valence": frame.loc[frame[ROLE] == CUSTOMER, "valence"].value_counts().to_dict(),
        "loss_threads_brand_replied": int(losses["provider_replied"].astype(bool).sum()),
        "loss_threads_recovery_offered": int(losses["recovery_offered"].astype(bool).sum()),
    }


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f}%"


def _table(frame: pd.DataFrame, key: str, limit: int) -> str:
    lines = []
    for row in frame.head(limit).itertuples(index=False):
        values = row._asdict()
        lines.append(
            f"  {values[key]!s:<28} {values['groups']:>4} {values['recovered']:>4}  {_pct(values['rate']):>6}"
            f"  [{_pct(values['ci_low'])}, {_pct(values['ci_high'])}]"
        )
    return "\n".join([f"  {key:<28} loss recov   rate  95% Wilson", *lines])


def report(result: dict, top: int = 10) -> str:
    s = result["summary"]
    c = counts(result)
    lines = [
        f"tweets {c['tweets']}, threads {c['threads']} (customer turns {c['customer_turns']}, brand turns "
        f"{c['brand_turns']}, other customers' turns {c['other_customer_turns']})",
        f"threads with >= 2 customer turns (analysed): {s.groups}",
        f"customer-turn valence: {c['customer_turn_valence']}",
        f"threads with a primary loss: {s.groups_with_loss}",
        f"loss spirals: {s.spirals} = {_pct(s.share)} of analysed threads, {_pct(s.share_of_losses)} of loss threads "
        f"[{_pct(s.share_of_losses_ci[0])}, {_pct(s.share_of_losses_ci[1])}]",
        f"  with new resources lost {s.with_new_resources}, with growing losses {s.with_growing_losses}, "
        f"escalating {s.escalating}; mean length {s.mean_spiral_length:.2f} customer turns",
        f"  secondary resources: {s.secondary_resources}",
        f"  escalation paths: {s.escalation_paths}",
        f"  coping paths: {s.coping_paths}",
        f"recovery (co-creation or mixed after the loss): {s.recovered}/{s.groups_with_loss} = {_pct(s.recovery_rate)} "
        f"[{_pct(s.recovery_ci[0])}, {_pct(s.recovery_ci[1])}]; spirals recovered {s.spirals_recovered}/{s.spirals}",
        f"brand replied after the loss in {c['loss_threads_brand_replied']} loss threads; coded service_recovery "
        f"offer in {c['loss_threads_recovery_offered']}",
        "spirals by triggering reason (aggregate):",
        s.by_reason.to_string(index=False, float_format=lambda x: f"{x:.3f}"),
        "recovery by provider:",
        _table(result["by_provider"], "provider", top),
        "recovery by triggering reason:",
        _table(result["by_reason"], "reason", top),
    ]
    return "\n".join(lines)


def show_threads(result: dict, groups: list[str]) -> str:
    """The full thread (all roles) with each customer turn's codes, for reading flagged cases."""
    frame = result["frame"]
    by_thread = sequences(frame[frame["thread_id"].isin(groups)], "thread_id")
    spirals = result["spirals"].set_index("group")
    out = []
    for group in groups:
        verdict = spirals.loc[group]
        out.append(
            f"=== thread {group} ({verdict['provider']}) spiral={verdict['is_spiral']} "
            f"trigger={verdict['trigger_reasons']} primary={verdict['primary_resources']} "
            f"secondary={verdict['secondary_resources']} grow={verdict['losses_grow']} "
            f"escalation={verdict['escalation_path']} recovered={verdict['recovered_item']}"
        )
        for turn in by_thread[group].itertuples(index=False):
            codes = ""
            if turn.role == CUSTOMER:
                codes = f" <{turn.valence} {'/'.join(turn.reasons)} lost={'/'.join(turn.resources_lost)}"
                codes += f" coping={'/'.join(turn.coping)}>"
            text = textwrap.shorten(turn.text, 230)
            out.append(f"  [{turn.item_id} {turn.role}] {text}{codes}")
    return "\n".join(out)


def _json_ready(result: dict) -> dict:
    def records(frame: pd.DataFrame) -> list[dict]:
        return json.loads(frame.to_json(orient="records"))

    return {
        "generated": datetime.now().date().isoformat(),
        "counts": counts(result),
        "summary": result["summary"].as_dict(),
        "recovery_by_provider": records(result["by_provider"]),
        "recovery_by_reason": records(result["by_reason"]),
        "recovery_by_theme": records(result["by_theme"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", default=str(DEFAULT_CSV), help="the twcs CSV (default: the shared first 5,000 rows)")
    parser.add_argument("--model", default="fast", help="trained model: 'fast' (bundled default) or a folder")
    parser.add_argument("--top", type=int, default=10, help="rows of the provider and reason tables")
    parser.add_argument("--json", help="also write every number to this JSON file")
    parser.add_argument("--show-spirals", type=int, default=0, help="print this many flagged threads to read")
    parser.add_argument("--seed", type=int, default=0, help="seed of the flagged-thread sample")
    args = parser.parse_args(argv)

    result = analyse(args.csv, args.model)
    print(report(result, args.top))
    if args.json:
        Path(args.json).write_text(json.dumps(_json_ready(result), indent=2, default=str), encoding="utf-8")
    if args.show_spirals:
        flagged = sorted(result["spirals"].loc[result["spirals"]["is_spiral"], "group"], key=int)
        sample = random.Random(args.seed).sample(flagged, min(args.show_spirals, len(flagged)))
        print(show_threads(result, sorted(sample, key=int)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
