"""`covalue code --engine dask` and `covalue scale …`: coding and reporting on a Dask cluster.

`covalue scale shard` cuts one big file into Parquet shards (which the engine splits into
partitions and spreads over the workers), `covalue scale status` shows how far a job got, and
`covalue scale report` computes the report's count tables from a job's Parquet output on the
cluster, for corpora that do not fit in memory. Dask is imported inside the commands only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from covalue.cli.common import console, err_console, handle_errors, is_interactive, open_project
from covalue.errors import CovalueError

app = typer.Typer(help="Scale-out: shard big inputs, follow Dask coding jobs, report from their output.")

SchedulerOption = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster)."),
]
WorkersOption = Annotated[
    int | None, typer.Option(help="Local cluster: worker processes (default: one per core).", min=1)
]
NOT_ON_DASK = ("keywords", "similarity")


def code_with_dask(
    *,
    input: Path | None,
    out: Path | None,
    model: str,
    codebook: str,
    llm_url: str | None,
    columns: dict[str, str],
    batch_size: int,
    workers: int | None,
    scheduler: str | None,
    partition_rows: int | None,
    overwrite: bool,
    db: str | None,
    project: str | None,
    limit: int | None,
) -> None:
    """The body of ``covalue code --engine dask``: file mode writes Parquet parts, project mode the store."""
    from covalue.cli.coding import _make_coder
    from covalue.engines.dask_engine import (
        DEFAULT_PARTITION_ROWS,
        code_dask,
        code_project_dask,
        dask_client,
    )

    if llm_url or model in NOT_ON_DASK:
        raise CovalueError("the Dask engine runs trained models: 'fast', 'accurate' or a folder from `covalue train`")
    _, description = _make_coder(model, codebook, None, None)  # checks the model against --codebook
    rows = partition_rows or DEFAULT_PARTITION_ROWS
    with dask_client(scheduler, n_workers=workers) as client:
        if input is not None:
            if out is None:
                raise typer.BadParameter("give --out FOLDER (Parquet parts) when coding files with --engine dask")
            with _partitions_progress() as tick:
                report = code_dask(
                    model, input, out, client=client, columns=columns, batch_size=batch_size,
                    partition_rows=rows, overwrite=overwrite, progress=tick,
                )  # fmt: skip
            skipped = f", {report.partitions_skipped} done before" if report.partitions_skipped else ""
            parts = f"{report.partitions} part{'s' * (report.partitions != 1)}"
            where = f"{out} ({parts}{skipped}; {report.total_incidents:,} incidents in all)"
        else:
            with open_project(db, project) as (store, info), _partitions_progress() as tick:
                report = code_project_dask(
                    model, store, info, client=client, model_description=description, batch_size=batch_size,
                    partition_rows=rows, limit=limit, progress=lambda n: tick(n, 0),
                )  # fmt: skip
            where = f"project {info.name!r}"
    console.print(
        f"Coded {report.incidents:,} incidents ({report.codings:,} codes) on {report.workers} Dask workers in "
        f"{report.seconds:.1f} s ({report.per_second:,.0f}/s) → {where}",
        highlight=False,
        soft_wrap=True,
    )


class _partitions_progress:
    """A bar of finished partitions on a terminal; otherwise a line to stderr every tenth of the job."""

    def __init__(self) -> None:
        self.interactive = is_interactive()
        self.bar = Progress(
            TextColumn("Coding partitions"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not self.interactive,
        )
        self.reported = -1

    def __enter__(self):
        self.bar.__enter__()
        task = self.bar.add_task("coding", total=None)

        def tick(done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total or None)
            step = max(total // 10, 1) if total else 0
            if not self.interactive and total and (done == total or done // step > self.reported):
                self.reported = done // step
                err_console.print(f"partitions: {done}/{total}", highlight=False)

        return tick

    def __exit__(self, *exc_info: object) -> None:
        self.bar.__exit__(*exc_info)


@app.command("shard")
@handle_errors
def shard_command(
    input: Annotated[Path, typer.Argument(help="A big CSV/TSV/JSONL/Parquet/XLSX file of incidents.")],
    out: Annotated[Path, typer.Argument(help="Folder to write shard-00000.parquet, … into.")],
    rows: Annotated[int, typer.Option(help="Incidents per shard.", min=1)] = 50_000,
) -> None:
    """Cut one big file into Parquet shards, keeping its ids (or the ids the local engine would give)."""
    from covalue.engines.shards import reshard

    written = reshard(input, out, rows)
    console.print(f"Wrote {len(written)} shards to {out}", highlight=False)


@app.command("status")
@handle_errors
def status_command(
    folder: Annotated[Path, typer.Argument(help="Output folder of a `covalue code --engine dask` job.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """How far a Dask coding job got: partitions done out of all, and whether it finished."""
    from covalue.engines.shards import JOB_FILE, MANIFEST_FILE, PART_GLOB, is_complete

    job_path = folder / JOB_FILE
    if not job_path.exists():
        raise CovalueError(f"{folder} holds no Dask coding job (no {JOB_FILE})")
    status: dict[str, Any] = {"complete": is_complete(folder), "parts_done": len(list(folder.glob(PART_GLOB)))}
    if status["complete"]:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        status |= {"parts": len(manifest["partitions"]), "incidents": manifest["incidents"]}
    job = json.loads(job_path.read_text(encoding="utf-8"))
    status |= {"model": job["model"], "version": job["version"], "codebook": job["codebook"]}
    if as_json:
        typer.echo(json.dumps(status, indent=1))
        return
    state = "complete" if status["complete"] else "not finished: rerun the same command to complete it"
    total = f"/{status['parts']}" if "parts" in status else ""
    console.print(f"{folder}: {status['parts_done']}{total} parts, {state}", highlight=False)


@app.command("report")
@handle_errors
def report_command(
    folder: Annotated[Path, typer.Argument(help="Output folder of a finished `covalue code --engine dask` job.")],
    tables: Annotated[Path, typer.Option("--tables", help="Folder to write the tables (CSV + XLSX) into.")],
    freq: Annotated[str, typer.Option(help="Trend periods: M (month), Q, Y, W or D.")] = "M",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Table 3 (reasons × phase × relationship type), trends and code co-occurrence, computed on Dask."""
    from covalue.analysis.views import write_tables
    from covalue.engines.dask_engine import dask_client, report_tables
    from covalue.engines.shards import JOB_FILE

    job_path = folder / JOB_FILE
    if not job_path.exists():
        raise CovalueError(f"{folder} holds no Dask coding job (no {JOB_FILE})")
    model = json.loads(job_path.read_text(encoding="utf-8"))["model"]
    with dask_client(scheduler, n_workers=workers) as client:
        computed = report_tables(folder, model, freq=freq, client=client)
    written = write_tables(computed, tables)
    console.print(f"Wrote {len(written)} files to {tables}", highlight=False)
