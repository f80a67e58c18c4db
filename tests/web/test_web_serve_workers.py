"""`covalue serve --workers N`: several server processes over one PostgreSQL database.

Sessions, CSRF tokens and coding versions live in the database, so a user's requests may land
on any worker process; this starts the real command and checks that they all work.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner
from webtools import PASSWORD, free_port, login

from covalue.cli.main import app
from covalue.store import Store
from covalue.web.repository import WebStore


def _wait_until_up(base: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"covalue serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("covalue serve did not answer in time")


def _worker_processes(pid: int) -> list[int]:
    """uvicorn's worker processes under ``pid`` (Linux /proc): spawned children, not the resource tracker."""
    workers = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            command = (status.parent / "cmdline").read_text()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and "spawn_main" in command:
            workers.append(int(status.parent.name))
    return workers


@pytest.mark.postgres
def test_two_worker_processes_share_sessions_and_saves(postgres_url: str) -> None:
    store = Store.open(postgres_url, create=True)
    try:
        web = WebStore(store)
        web.create_user("ann", PASSWORD, is_admin=True)
    finally:
        store.close()
    port = free_port()
    command = [sys.executable, "-c", "from covalue.cli.main import app; app()", "serve", "--db", postgres_url]
    command += ["--port", str(port), "--workers", "2", "--no-suggestions"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        if Path("/proc/self/status").exists():
            assert len(_worker_processes(process.pid)) == 2
        with httpx.Client(base_url=base, timeout=20) as client:
            login(client, "ann")
            made = client.post("/api/projects", json={"name": "two workers", "codebook": "vcd"})
            assert made.status_code in (200, 201), made.text
            for _ in range(30):  # requests spread over both processes: the session is valid on each
                answer = client.get("/api/projects")
                assert answer.status_code == 200 and answer.json()
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_workers_need_postgresql(tmp_path) -> None:
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "one.db"), "--workers", "2"])
    assert result.exit_code == 1 and "needs PostgreSQL" in result.output


def test_user_commands_create_list_and_reject_bad_passwords(tmp_path) -> None:
    db = str(tmp_path / "accounts.db")
    runner = CliRunner()
    made = runner.invoke(app, ["user", "add", "ann", "--admin", "--password-stdin", "--db", db], input=f"{PASSWORD}\n")
    assert made.exit_code == 0 and "Created admin user 'ann'" in made.output
    short = runner.invoke(app, ["user", "add", "ben", "--password-stdin", "--db", db], input="x\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    changed = runner.invoke(
        app, ["user", "password", "ann", "--password-stdin", "--db", db], input="another long one\n"
    )
    assert changed.exit_code == 0 and "Password of 'ann' changed" in changed.output
    listed = runner.invoke(app, ["user", "list", "--db", db])
    assert listed.exit_code == 0 and listed.output.split() == ["ann", "(admin)"]
