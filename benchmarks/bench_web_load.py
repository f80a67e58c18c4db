"""Load test of the web workbench: concurrent coders saving codings, with a lost-update check.

Starts ``covalue serve``'s app with uvicorn in a subprocess on 127.0.0.1 (only loopback
traffic) against a fresh PostgreSQL database when a server is reachable, else a temporary
SQLite file. Each of ``--coders`` coders signs in, then saves ``--saves`` codings, each a
create followed by an edit carrying the version it read (what the browser does), all at
once. It prints p50/p95/p99 save latency and fails (exit 1) if any save is missing or any
request failed. ``--short`` is the CI setting (< 20 s).

    python benchmarks/bench_web_load.py --short
    python benchmarks/bench_web_load.py --coders 20 --saves 50 --db postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "src" / "covalue" / "data" / "example" / "incidents.csv"
POSTGRES_ADMIN = os.environ.get("COVALUE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "load test password"

SERVER = """
import os, sys, uvicorn
url, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if workers == 1:
    from covalue.store import Store
    from covalue.web import create_app
    uvicorn.run(create_app(Store.open(url), suggestion_model=None), host="127.0.0.1", port=port, log_level="warning")
else:  # as `covalue serve --workers N` runs it
    from covalue.web.app import DATABASE_ENV, SUGGESTIONS_ENV
    os.environ[DATABASE_ENV], os.environ[SUGGESTIONS_ENV] = url, ""
    uvicorn.run("covalue.web.app:app_from_environment", factory=True, workers=workers, host="127.0.0.1", port=port,
                log_level="warning")
"""


def postgres_database() -> tuple[str, str] | None:
    """(url, name) of a new empty database on the local PostgreSQL server, or None."""
    try:
        import psycopg

        name = f"covalue_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=2) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", name
    except Exception:  # no driver, no server: fall back to SQLite
        return None


def drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(url: str, coders: int, incidents: int, folder: Path) -> list[str]:
    """A project with ``incidents`` example incidents and ``coders`` coder accounts."""
    from covalue.framework import load_codebook
    from covalue.ingest.importer import import_incidents
    from covalue.store import Store
    from covalue.web.repository import WebStore

    rows = list(csv.reader(io.StringIO(EXAMPLE.read_text(encoding="utf-8"))))
    subset = folder / "incidents.csv"
    with subset.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows[: incidents + 1])
    store = Store.open(url, create=True)
    try:
        project = store.create_project("load")
        store.add_codebook(project, load_codebook("vcd"))
        import_incidents(store, project, subset)
        web = WebStore(store)
        for i in range(coders):
            web.create_user(f"coder{i:02d}", PASSWORD)
            web.set_member(project, f"coder{i:02d}", "coder")
        return [i.external_id for i in store.list_incidents(project, limit=incidents)]
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port), str(workers)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{base}/api/openapi.json", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the server did not start within 30 s")


def run_load(base: str, items: list[str], coders: int, saves: int) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(coders + 1)

    def coder(index: int) -> None:
        mine: list[float] = []
        with httpx.Client(base_url=base, timeout=60) as client:
            try:
                login = client.post("/api/login", json={"name": f"coder{index:02d}", "password": PASSWORD})
                login.raise_for_status()
                client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            except httpx.HTTPError as exc:
                failures.append(f"coder{index:02d} login: {exc}")
                barrier.abort()
                return
            barrier.wait()
            for k in range(saves):
                item = items[(index * saves + k) % len(items)]
                try:
                    started = time.perf_counter()
                    made = client.post(
                        f"/api/projects/1/incidents/{item}/codings", json={"dimension": "reasons", "code_id": "R4.2"}
                    )
                    made.raise_for_status()
                    mine.append(time.perf_counter() - started)
                    coding = made.json()
                    started = time.perf_counter()
                    edit = client.patch(
                        f"/api/projects/1/codings/{coding['id']}",
                        json={"version": coding["version"], "memo": f"m{k}", "set_memo": True},
                    )
                    edit.raise_for_status()
                    mine.append(time.perf_counter() - started)
                except httpx.HTTPError as exc:
                    failures.append(f"coder{index:02d} save {k}: {exc}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=coder, args=(i,)) for i in range(coders)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, failures, time.perf_counter() - started


def lost_updates(url: str, coders: int, saves: int) -> list[str]:
    """Coders whose saved codings (with their edited memo) are not all in the database."""
    from sqlalchemy import func, select

    from covalue.store import Store
    from covalue.store.tables import CoderRow, CodingRow

    store = Store.open(url)
    try:
        with store.session() as session:
            found = dict(
                session.execute(
                    select(CoderRow.name, func.count(CodingRow.id))
                    .join(CodingRow, CodingRow.coder_id == CoderRow.id)
                    .where(CodingRow.memo.like("m%"))
                    .group_by(CoderRow.name)
                ).all()
            )
    finally:
        store.close()
    expected_per_coder = saves
    return [
        f"coder{i:02d}: {found.get(f'coder{i:02d}', 0)} of {expected_per_coder}"
        for i in range(coders)
        if found.get(f"coder{i:02d}", 0) != expected_per_coder
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--short", action="store_true", help="CI setting: 20 coders x 6 saves (< 20 s)")
    parser.add_argument("--coders", type=int, default=20)
    parser.add_argument("--saves", type=int, default=40, help="codings each coder saves (create + edit each)")
    parser.add_argument("--db", help="database URL (default: a temporary PostgreSQL database, else SQLite)")
    parser.add_argument("--server-workers", type=int, default=1, help="server processes (PostgreSQL only)")
    args = parser.parse_args()
    saves = 6 if args.short else args.saves
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        created = None
        if args.db:
            url = args.db
        else:
            created = postgres_database()
            url = created[0] if created else f"sqlite:///{Path(tmp) / 'load.db'}"
        backend = "postgresql" if url.startswith("postgres") else "sqlite"
        try:
            items = prepare(url, args.coders, max(args.coders * saves, 50) if not args.short else 200, Path(tmp))
            if args.server_workers > 1 and backend != "postgresql":
                raise SystemExit("--server-workers above 1 needs PostgreSQL")
            process, base = start_server(url, args.server_workers)
            try:
                latencies, failures, elapsed = run_load(base, items, args.coders, saves)
            finally:
                process.terminate()
                process.wait(timeout=10)
            lost = lost_updates(url, args.coders, saves)
        finally:
            if created:
                drop_postgres(created[1])
    n = len(latencies)
    processes = f"{args.server_workers} server process(es)"
    print(
        f"backend: {backend} ({processes}); {args.coders} concurrent coders; "
        f"{n} saves in {elapsed:.2f} s ({n / elapsed:.0f}/s)"
    )
    if latencies:
        ms = [v * 1000 for v in latencies]
        print(
            f"save latency ms: p50 {percentile(ms, 50):.1f}  p95 {percentile(ms, 95):.1f}  "
            f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
        )
    print(f"failed requests: {len(failures)}; lost updates: {len(lost)}; wall time {time.perf_counter() - wall:.1f} s")
    for problem in (failures + lost)[:10]:
        print("  " + problem)
    return 1 if failures or lost or not latencies else 0


if __name__ == "__main__":
    sys.exit(main())
