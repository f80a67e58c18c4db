"""20 coders saving at once against a real uvicorn server: no update may be lost.

Two kinds of writes race: every coder adds and edits their own codings (independent rows),
and twenty sessions do read-modify-write on one shared coding (append to its memo, retry on
409). Row versioning must turn every lost update into a 409 that the client retries.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import func, select
from webtools import EXAMPLE, PASSWORD, build_project, live_server, login

from covalue.store.tables import CoderRow, CodingRow
from covalue.web.repository import WebStore

CODERS = 20
SAVES = 5


def _subset(tmp_path, n: int = 200):
    """The first ``n`` example incidents (keeps PostgreSQL set-up quick)."""
    lines = (EXAMPLE / "incidents.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    import csv
    import io

    rows = list(csv.reader(io.StringIO("".join(lines))))
    path = tmp_path / "incidents.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows[: n + 1])
    return path


def _race(base: str, items: list[str], shared_id: int, coders: int) -> tuple[list[BaseException], int]:
    errors: list[BaseException] = []
    conflicts = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(coders)

    def coder(index: int) -> None:
        try:
            with httpx.Client(base_url=base, timeout=60) as own, httpx.Client(base_url=base, timeout=60) as tab:
                login(own, f"coder{index:02d}")
                login(tab, "alice")  # a second tab of alice: all twenty edit one coding
                barrier.wait()
                for k in range(SAVES):
                    item = items[(index * SAVES + k) % len(items)]
                    made = own.post(
                        f"/api/projects/1/incidents/{item}/codings", json={"dimension": "reasons", "code_id": "R1.1"}
                    )
                    made.raise_for_status()
                    edit = own.patch(
                        f"/api/projects/1/codings/{made.json()['id']}",
                        json={"version": made.json()["version"], "memo": f"done-{k}", "set_memo": True},
                    )
                    edit.raise_for_status()
                while True:  # read-modify-write with optimistic retry
                    current = tab.get(f"/api/projects/1/codings/{shared_id}").json()
                    memo = (current["memo"] or "") + f"[{index}]"
                    saved = tab.patch(
                        f"/api/projects/1/codings/{shared_id}",
                        json={"version": current["version"], "memo": memo, "set_memo": True},
                    )
                    if saved.status_code == 200:
                        break
                    assert saved.status_code == 409, saved.text
                    with lock:
                        conflicts[0] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=coder, args=(i,)) for i in range(coders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors, conflicts[0]


@pytest.mark.parametrize(
    ("backend", "coders"), [("sqlite", 10), pytest.param("postgres", CODERS, marks=pytest.mark.postgres)]
)
def test_concurrent_coders_lose_no_update(backend, coders, request, tmp_path) -> None:
    """PostgreSQL (the team set-up) with 20 coders; SQLite with 10 to keep the suite quick."""
    url = request.getfixturevalue(f"{backend}_url")
    store = build_project(url, labels=False, incidents=_subset(tmp_path))
    try:
        web = WebStore(store)
        project = store.project("example")
        for i in range(coders):
            web.create_user(f"coder{i:02d}", PASSWORD)
            web.set_member(project, f"coder{i:02d}", "coder")
        items = [incident.external_id for incident in store.list_incidents(project, limit=coders * SAVES)]
        with live_server(store) as base, httpx.Client(base_url=base) as alice:
            login(alice, "alice")
            shared = alice.post(
                f"/api/projects/1/incidents/{items[0]}/codings", json={"dimension": "valence", "code_id": "mixed"}
            ).json()
            errors, conflicts = _race(base, items, shared["id"], coders)
        assert not errors, errors[:3]
        with web.reading() as session:
            per_coder = dict(
                session.execute(
                    select(CoderRow.name, func.count(CodingRow.id))
                    .join(CodingRow, CodingRow.coder_id == CoderRow.id)
                    .where(CoderRow.name.like("coder%"), CodingRow.memo.like("done-%"))
                    .group_by(CoderRow.name)
                ).all()
            )
            memo = session.scalar(select(CodingRow.memo).where(CodingRow.id == shared["id"]))
        assert per_coder == {f"coder{i:02d}": SAVES for i in range(coders)}
        assert sorted(memo.strip("[]").split("][")) == sorted(str(i) for i in range(coders)), memo
        assert conflicts >= 0  # conflicts happen under contention and were all retried
    finally:
        store.close()
