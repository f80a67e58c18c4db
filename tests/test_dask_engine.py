"""The Dask engine: same codings as the local engine, resumable, robust to a killed worker; Dask aggregates.

One LocalCluster (2 worker processes) is shared by the module, because starting one takes seconds.
Equality is checked row for row against :func:`covalue.engines.local.code_file` on the bundled
example and on real shared data (airline tweets with ids, CFPB narratives without ids), and the
aggregates against the pandas views of :mod:`covalue.analysis.views` on the local engine's output.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer

pytest.importorskip("distributed")

from typer.testing import CliRunner

from covalue.analysis import views
from covalue.analysis.frame import frame_from_files
from covalue.cli import coding
from covalue.cli.scale import app as scale_app
from covalue.coding.training import load_model
from covalue.engines import dask_engine
from covalue.engines.dask_engine import (
    code_dask,
    code_project_dask,
    dask_client,
    part_files,
    worker_loads,
)
from covalue.engines.local import code_file, code_project, evidence_path
from covalue.engines.shards import (
    SUCCESS_FILE,
    expand_sources,
    plan_partitions,
    read_manifest,
    reshard,
)
from covalue.errors import CovalueError, InputError
from covalue.ingest.importer import import_incidents, iter_file_incidents
from covalue.store import Store

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "src" / "covalue" / "data" / "example" / "incidents.csv"
RAW = REPO.parent / "shared" / "data" / "raw"
TWEETS = RAW / "twitter_airline_sentiment" / "tweets.csv"
COMPLAINTS = RAW / "cfpb_consumer_complaints" / "complaints_sample.csv"
runner = CliRunner()
#: ``covalue code`` alone, so these tests do not depend on the other command groups being importable
app = typer.Typer()
app.command("code")(coding.code)
app.command("version")(lambda: None)  # a second command, so that Typer keeps "code" as a subcommand


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with dask_client(n_workers=2) as shared:
        yield shared


@pytest.fixture(scope="module")
def coder():
    return load_model("fast")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dask")


def _local(coder, source: Path, out: Path) -> Path:
    if not out.exists():
        code_file(coder, source, out)
    return out


@pytest.fixture(scope="module")
def example_local(coder, work: Path) -> Path:
    return _local(coder, EXAMPLE, work / "example-local.csv")


@pytest.fixture(scope="module")
def tweets_csv(work: Path) -> Path:
    """The first 2,000 airline tweets (real data, with a tweet_id column and dates)."""
    if not TWEETS.exists():
        pytest.skip(f"shared data not found at {TWEETS}")
    return _head_csv(TWEETS, work / "tweets.csv", 2_000)


@pytest.fixture(scope="module")
def tweets_parquet(tweets_csv: Path, work: Path) -> Path:
    folder = work / "tweets-shards"
    reshard(tweets_csv, folder, rows_per_shard=1_000)
    return folder


@pytest.fixture(scope="module")
def tweets_local(coder, tweets_csv: Path, work: Path) -> Path:
    return _local(coder, tweets_csv, work / "tweets-local.csv")


@pytest.fixture(scope="module")
def tweets_dask(client, tweets_parquet: Path, work: Path) -> Path:
    out = work / "tweets-out"
    code_dask("fast", tweets_parquet, out, client=client, partition_rows=512)
    return out


def _head_csv(source: Path, target: Path, n: int, columns: list[str] | None = None) -> Path:
    csv.field_size_limit(10**8)
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(n), reader, strict=False)]
        header = columns or list(reader.fieldnames or [])
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return target


# -- comparing with the local engine --------------------------------------------------------------


def _dask_rows(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in part_files(out)], ignore_index=True)


def assert_same_as_local(out: Path, local_csv: Path) -> None:
    """Every row, dimension, confidence and evidence span equal to the local engine's, in the same order."""
    with local_csv.open(encoding="utf-8", newline="") as handle:
        local = list(csv.DictReader(handle))
    with evidence_path(local_csv).open(encoding="utf-8") as handle:
        decisions = [json.loads(line) for line in handle]
    ours = _dask_rows(out)
    assert ours["item_id"].tolist() == [row["item_id"] for row in local]
    assert ours["item_id"].is_unique
    for column in local[0]:
        assert ours[column].fillna("").tolist() == [row[column] for row in local], column
    confidence = [{f"{d['dimension']}:{d['code']}": d["confidence"] for d in e["decisions"]} for e in decisions]
    assert [json.loads(v) for v in ours["confidence"]] == confidence
    spans = [
        {f"{d['dimension']}:{d['code']}": d["evidence"] for d in e["decisions"] if d["evidence"]} for e in decisions
    ]
    assert [json.loads(v) for v in ours["evidence"]] == spans


# -- file mode --------------------------------------------------------------------------------------


def test_example_equals_local_engine(client, example_local: Path, work: Path) -> None:
    out = work / "example-out"
    report = code_dask("fast", EXAMPLE, out, client=client)
    assert (report.partitions, report.incidents, report.total_incidents) == (1, 500, 500)
    assert_same_as_local(out, example_local)
    rows = _dask_rows(out)
    incidents = list(iter_file_incidents(EXAMPLE))
    for name in ("source", "channel", "relationship_type", "customer_id", "thread_id"):
        assert [None if pd.isna(v) else v for v in rows[name]] == [getattr(i, name) for i in incidents], name
    dates = [None if i.occurred_at is None else pd.Timestamp(i.occurred_at, tz="UTC") for i in incidents]
    assert [None if pd.isna(v) else v for v in rows["occurred_at"]] == dates
    assert rows["occurred_at"].notna().sum() > 400
    assert rows["provider"].tolist() == rows["source"].tolist()  # no provider in the metadata: the source
    manifest = read_manifest(out)
    assert manifest["incidents"] == 500 and manifest["partitions"][0]["name"] == "part-00000.parquet"


def test_parquet_partitions_of_real_tweets_equal_local_engine(tweets_dask: Path, tweets_local: Path) -> None:
    manifest = read_manifest(tweets_dask)
    # 2 shards of 1,000 rows, cut at 512 rows: partitions are row ranges inside each shard
    assert [(p["start"], p["stop"]) for p in manifest["partitions"][:2]] == [(0, 512), (512, 1000)]
    assert len(part_files(tweets_dask)) == len(manifest["partitions"]) == 4
    assert_same_as_local(tweets_dask, tweets_local)


def test_a_folder_of_csv_shards_and_ids_from_line_numbers(client, coder, work: Path) -> None:
    """CFPB narratives without an id column: ids are ``stem:line`` (multi-line texts), kept through resharding."""
    if not COMPLAINTS.exists():
        pytest.skip(f"shared data not found at {COMPLAINTS}")
    folder = work / "complaints"
    folder.mkdir()
    csv.field_size_limit(10**8)
    with COMPLAINTS.open(encoding="utf-8", newline="") as handle:
        texts = [row["Consumer complaint narrative"] for row in csv.DictReader(handle)]
    texts = [t for t in texts if "\n" in t][:160]
    for k in range(2):
        with (folder / f"batch{k}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text"])
            writer.writerows([t] for t in texts[k * 80 : (k + 1) * 80])
    (folder / "_notes.csv").write_text("ignored,marker\n")
    out = work / "complaints-out"
    report = code_dask("fast", folder, out, client=client)
    assert report.partitions == 2 and report.total_incidents == 160
    locals_ = [_local(coder, folder / f"batch{k}.csv", work / f"complaints-local-{k}.csv") for k in range(2)]
    merged = work / "complaints-local.csv"
    _concat_local(locals_, merged)
    assert_same_as_local(out, merged)
    assert _dask_rows(out)["item_id"].iloc[1].startswith("batch0:")

    sharded = work / "complaints-shards"
    reshard(folder / "batch1.csv", sharded, rows_per_shard=30)
    again = work / "complaints-resharded-out"
    code_dask("fast", sharded, again, client=client, partition_rows=20)  # rounded up to one batch
    assert _dask_rows(again)["item_id"].tolist() == _dask_rows(out)["item_id"].tolist()[80:]
    assert len(read_manifest(again)["partitions"]) == 3
    assert_same_as_local(again, locals_[1])


def _concat_local(parts: list[Path], target: Path) -> None:
    with target.open("w", encoding="utf-8", newline="") as out, evidence_path(target).open("w") as log:
        for k, part in enumerate(parts):
            lines = part.read_text(encoding="utf-8").splitlines(keepends=True)
            out.writelines(lines if k == 0 else lines[1:])
            log.write(evidence_path(part).read_text(encoding="utf-8"))


def test_model_loaded_once_per_worker(client, tweets_dask: Path) -> None:
    loads = client.run(worker_loads)
    assert len(loads) == 2
    assert all(count.get("fast", 0) <= 1 for count in loads.values()), loads
    assert any(count.get("fast") == 1 for count in loads.values())


def test_rerun_skips_finished_partitions_and_completes_an_interrupted_job(
    client, tweets_parquet: Path, tweets_local: Path, work: Path
) -> None:
    out = work / "interrupted"
    finished: list[int] = []

    def stop_after_two(done: int, total: int) -> None:
        finished.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        code_dask("fast", tweets_parquet, out, client=client, partition_rows=256, progress=stop_after_two)
    _wait_until_idle(client)  # cancelling does not stop a running task: it finishes and writes its part
    before = sorted(out.glob("part-*.parquet"))
    done_before = len(before)
    rows_before = sum(len(pd.read_parquet(p)) for p in before)
    assert 2 <= done_before < 8 and not (out / SUCCESS_FILE).exists()
    with pytest.raises(CovalueError, match="not finished"):
        part_files(out)
    (out / ".part-00007.parquet.crashed.tmp").write_bytes(b"half a file")

    seen: list[tuple[int, int]] = []
    report = code_dask(
        "fast", tweets_parquet, out, client=client, partition_rows=256, progress=lambda d, t: seen.append((d, t))
    )
    assert report.partitions == 8 and report.partitions_skipped == done_before
    assert report.total_incidents == 2_000 and report.incidents == 2_000 - rows_before > 0
    assert seen[-1] == (8, 8) and not list(out.glob(".part-*"))
    assert_same_as_local(out, tweets_local)

    noop = code_dask("fast", tweets_parquet, out, client=client, partition_rows=256)
    assert (noop.partitions_skipped, noop.incidents) == (8, 0)
    lost = out / "part-00003.parquet"
    rows_lost = len(pd.read_parquet(lost))
    lost.unlink()
    redone = code_dask("fast", tweets_parquet, out, client=client, partition_rows=256)
    assert (redone.partitions_skipped, redone.incidents) == (7, rows_lost)
    assert (out / SUCCESS_FILE).exists()
    assert_same_as_local(out, tweets_local)
    with pytest.raises(CovalueError, match="different job"):
        code_dask("fast", tweets_parquet, out, client=client, partition_rows=512)


def _wait_until_idle(client, timeout: float = 30) -> None:
    """Until no worker runs a task (the scheduler forgets cancelled tasks that workers still run)."""
    deadline = time.monotonic() + timeout
    while any(client.run(_executing).values()) and time.monotonic() < deadline:
        time.sleep(0.1)


def _executing(dask_worker) -> int:
    return dask_worker.state.executing_count


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(
    client, tweets_parquet: Path, tweets_local: Path, work: Path
) -> None:
    out = work / "killed"
    killed: dict[str, int] = {}

    def kill_a_busy_worker(done: int, total: int) -> None:
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.update(pid=pid, done=done, total=total)

    report = code_dask("fast", tweets_parquet, out, client=client, partition_rows=256, progress=kill_a_busy_worker)
    assert killed and killed["done"] < killed["total"], "the worker was killed before the job ended"
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    assert report.partitions == 8 and report.total_incidents == 2_000
    assert_same_as_local(out, tweets_local)  # every id exactly once, in order, with the same codes
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker for the tests after this one


def test_bad_input_is_reported_and_nothing_is_marked_done(client, work: Path) -> None:
    folder = work / "bad"
    folder.mkdir()
    (folder / "a.csv").write_text("item_id,text\n1,fine\n2,\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty text"):
        code_dask("fast", folder, work / "bad-out", client=client)
    assert not (work / "bad-out" / SUCCESS_FILE).exists()
    with pytest.raises(InputError, match="no input shards"):
        expand_sources(work / "bad-out")
    with pytest.raises(InputError):
        expand_sources(work / "missing-*.parquet")


def test_partition_plan(tweets_parquet: Path) -> None:
    files = expand_sources(str(tweets_parquet / "shard-*.parquet"))
    assert [f.name for f in files] == ["shard-00000.parquet", "shard-00001.parquet"]
    plan = plan_partitions(files, 400)
    assert [(p.start, p.stop) for p in plan[:4]] == [(0, 400), (400, 800), (800, 1000), (0, 400)]
    assert [p.name for p in plan[-2:]] == ["part-00004.parquet", "part-00005.parquet"]
    assert plan[3].path.endswith("shard-00001.parquet")


# -- project mode ---------------------------------------------------------------------------------


def test_project_mode_stores_the_local_engines_codings_and_resumes(client, coder, db_url: str, tmp_path: Path) -> None:
    local_store = Store.open(f"sqlite:///{tmp_path / 'local.db'}", create=True)
    local_project = local_store.create_project("local")
    import_incidents(local_store, local_project, EXAMPLE)
    code_project(coder, local_store, local_project, model="supervised:fast")

    store = Store.open(db_url, create=True)
    try:
        project = store.create_project("dask")
        import_incidents(store, project, EXAMPLE)
        first = code_project_dask("fast", store, project, client=client, partition_rows=128, limit=300)
        assert first.incidents == 300 and first.partitions == 2  # 128 rows rounded up to one batch of 256
        rest = code_project_dask("fast", store, project, client=client, partition_rows=128)
        assert rest.incidents == 200
        assert code_project_dask("fast", store, project, client=client).incidents == 0
        ours = _codings(store, project, coder.name)
        assert ours == _codings(local_store, local_project, coder.name)
        assert len({c[0] for c in ours}) == 500
        assert store.coders(project)[0].model == "supervised:fast"
    finally:
        store.close()
        local_store.close()


def _codings(store: Store, project, coder: str) -> list[tuple]:
    return sorted(
        (c.incident_id, c.dimension, c.code_id, c.confidence, tuple((s.start, s.end) for s in c.evidence))
        for c in store.iter_codings(project, coder=coder)
    )


# -- aggregates on Dask = the pandas views ----------------------------------------------------------


@pytest.fixture(scope="module")
def tweets_frame(coder, tweets_csv: Path, tweets_local: Path) -> pd.DataFrame:
    return frame_from_files(tweets_csv, tweets_local, coder.codebook, with_text=False)


def test_table3_equals_the_pandas_view(client, coder, tweets_dask: Path, tweets_frame: pd.DataFrame) -> None:
    expected = views.reasons_timing_relationship(tweets_frame, coder.codebook)
    ours = dask_engine.reasons_timing_relationship(tweets_dask, coder.codebook, client=client)
    pd.testing.assert_frame_equal(ours, expected)
    assert expected.loc[expected["code"] == "(all)", "rel_(unknown)_n"].item() > 0  # tweets have no type
    everything = views.reasons_timing_relationship(tweets_frame, coder.codebook, valence=None, phase=None)
    pd.testing.assert_frame_equal(
        dask_engine.reasons_timing_relationship(tweets_dask, coder.codebook, valence=None, phase=None), everything
    )


@pytest.mark.parametrize(
    ("dimension", "freq", "level", "include_none"),
    [("valence", "D", None, False), ("reasons", "W", "aggregate", True), ("coping", "M", None, False)],
)
def test_trend_equals_the_pandas_view(
    client, coder, tweets_dask: Path, tweets_frame: pd.DataFrame, dimension: str, freq: str, level, include_none
) -> None:
    expected = views.trend(tweets_frame, coder.codebook, dimension, freq, level, include_none=include_none)
    ours = dask_engine.trend(tweets_dask, coder.codebook, dimension, freq, level, include_none=include_none)
    assert len(expected.periods) > 3
    pd.testing.assert_frame_equal(ours.periods, expected.periods)
    pd.testing.assert_frame_equal(ours.summary, expected.summary)
    assert ours.undated == expected.undated


@pytest.mark.parametrize(
    ("dim_a", "dim_b", "level", "level_b", "measure"),
    [
        ("reasons", None, "aggregate", None, "count"),
        ("reasons", None, None, None, "jaccard"),
        ("reasons", "coping", "aggregate", None, "lift"),
        ("valence", "phase", None, None, "count"),
    ],
)
def test_cooccurrence_equals_the_pandas_view(
    client, coder, tweets_dask: Path, tweets_frame: pd.DataFrame, dim_a, dim_b, level, level_b, measure
) -> None:
    book = coder.codebook
    expected = views.cooccurrence(tweets_frame, book, dim_a, dim_b, level, level_b=level_b, measure=measure)
    ours = dask_engine.cooccurrence(tweets_dask, book, dim_a, dim_b, level, level_b=level_b, measure=measure)
    pd.testing.assert_frame_equal(ours, expected)
    assert np.nansum(expected.to_numpy()) > 0


# -- command line -----------------------------------------------------------------------------------


def test_cli_code_with_the_dask_engine_and_scale_commands(client, example_local: Path, tmp_path: Path) -> None:
    address = client.scheduler.address
    out = tmp_path / "cli-out"
    coded = runner.invoke(app, ["code", str(EXAMPLE), "--engine", "dask", "--scheduler", address, "--out", str(out)])
    assert coded.exit_code == 0, coded.output
    assert "Coded 500 incidents" in coded.output and "on 2 Dask workers" in coded.output
    assert_same_as_local(out, example_local)

    status = runner.invoke(scale_app, ["status", str(out), "--json"])
    assert status.exit_code == 0, status.output
    assert {"complete": True, "parts": 1, "incidents": 500, "model": "fast"}.items() <= json.loads(
        status.output
    ).items()

    tables = tmp_path / "tables"
    reported = runner.invoke(scale_app, ["report", str(out), "--tables", str(tables), "--scheduler", address])
    assert reported.exit_code == 0, reported.output
    table3 = pd.read_csv(tables / "reasons_timing_relationship.csv")
    assert table3.loc[table3["code"] == "(all)", "n"].item() > 0
    assert (tables / "tables.xlsx").exists() and (tables / "cooccurrence_reasons.csv").exists()

    db = tmp_path / "cli.db"
    store = Store.open(str(db), create=True)
    import_incidents(store, store.create_project("cli"), EXAMPLE)
    store.close()
    stored = runner.invoke(app, ["code", "--engine", "dask", "--scheduler", address, "--db", str(db), "--limit", "100"])
    assert stored.exit_code == 0, stored.output
    assert "Coded 100 incidents" in stored.output and "project 'cli'" in stored.output

    refused = runner.invoke(app, ["code", str(EXAMPLE), "--engine", "dask", "--model", "keywords", "--out", str(out)])
    assert refused.exit_code == 1 and "trained models" in refused.output
    wrong = runner.invoke(app, ["code", str(EXAMPLE), "--engine", "spark", "--out", str(out)])
    assert wrong.exit_code == 2


def test_cli_shard(tmp_path: Path) -> None:
    result = runner.invoke(scale_app, ["shard", str(EXAMPLE), str(tmp_path / "shards"), "--rows", "200"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        "shard-00000.parquet",
        "shard-00001.parquet",
        "shard-00002.parquet",
    ]
    assert sum(pd.read_parquet(p).shape[0] for p in (tmp_path / "shards").iterdir()) == 500


def test_cluster_is_still_whole(client) -> None:
    """The kill test leaves the cluster with two workers again (the nanny restarted one)."""
    deadline = time.monotonic() + 30
    while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(client.scheduler_info()["workers"]) == 2
