"""`covalue code`, `train`, `suggest` and `evaluate`: the automatic coder from the command line.

The coding stack (scikit-learn, SciPy, tokenizers) is imported inside the commands, so that
`covalue --help`, imports and the other commands start fast and stay small.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from covalue.cli.common import (
    DbOption,
    ProjectOption,
    console,
    err_console,
    handle_errors,
    is_interactive,
    open_project,
)
from covalue.errors import CovalueError
from covalue.framework import load_codebook
from covalue.ingest.labels import read_label_csv
from covalue.model.labels import LabelRow

if TYPE_CHECKING:
    from covalue.coding.base import IncidentCoder
    from covalue.coding.metrics import Evaluation

MODEL_HELP = (
    "Coder: 'fast' (default, bundled), 'accurate' (bundled, needs covalue[accurate]), 'keywords', "
    "'similarity', or a folder written by `covalue train`."
)


def _make_coder(model: str, codebook: str, llm_url: str | None, llm_model: str | None) -> tuple[IncidentCoder, str]:
    """The coder and the model description recorded with its codings."""
    from covalue.coding.llm import LLMCoder
    from covalue.coding.training import load_model
    from covalue.coding.zeroshot import KeywordCoder, SimilarityCoder

    if llm_url:
        if not llm_model:
            raise CovalueError("--llm-url needs --llm-model")
        return LLMCoder(llm_url, llm_model, codebook), f"llm:{llm_model}@{llm_url}"
    if model == "keywords":
        return KeywordCoder(codebook), "keywords"
    if model == "similarity":
        return SimilarityCoder(codebook), "similarity:static-minilm"
    coder = load_model(model)
    if codebook not in (coder.codebook.id, coder.codebook.key) and Path(codebook).suffix not in {
        ".yaml",
        ".yml",
    }:
        raise CovalueError(f"model {model!r} codes with {coder.codebook.key}, not {codebook!r}")
    return coder, f"supervised:{model}"


def code(
    input: Annotated[Path | None, typer.Argument(help="A file of incidents to code (no project needed).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output CSV (annotation-guide format).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column with the text (default: detected).")] = None,
    id_column: Annotated[str | None, typer.Option(help="Column with the id (default: detected).")] = None,
    codebook: Annotated[str, typer.Option(help="Codebook id or YAML file.")] = "vcd",
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "fast",
    llm_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name at the LLM endpoint.")] = None,
    batch_size: Annotated[int, typer.Option(help="Incidents per batch.", min=1)] = 256,
    workers: Annotated[
        int | None,
        typer.Option(
            help="File mode: processes coding in parallel (same output; default 1). "
            "Dask engine without --scheduler: local worker processes (default: one per core).",
            min=1,
        ),
    ] = None,
    db: DbOption = None,
    project: ProjectOption = None,
    limit: Annotated[int | None, typer.Option(help="Project mode: code at most this many incidents.")] = None,
    engine: Annotated[
        str, typer.Option(help="local, or dask: partitions coded on a Dask cluster (see docs/scale-out.md).")
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option(help="Dask engine: scheduler address, e.g. tcp://10.0.0.5:8786 (default: local).")
    ] = None,
    partition_rows: Annotated[
        int | None, typer.Option(help="Dask engine: incidents per partition (default 8,192).", min=1)
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Dask engine: replace an earlier job's output in --out.")] = False,
) -> None:
    """Code incidents on every dimension of the codebook, with confidences and evidence spans.

    With INPUT and --out: codes the file and writes CODINGS.csv plus CODINGS.evidence.jsonl.
    Without INPUT: codes the project's incidents not yet coded by this coder and stores the codings.
    With --engine dask: INPUT may be a folder or glob of shards, and --out is a folder of Parquet parts.
    """
    if engine not in ("local", "dask"):
        raise typer.BadParameter(f"--engine must be local or dask, not {engine!r}")
    if engine == "dask":
        from covalue.cli.scale import code_with_dask

        columns = {k: v for k, v in {"text": text_column, "id": id_column}.items() if v}
        code_with_dask(
            input=input, out=out, model=model, codebook=codebook, llm_url=llm_url, columns=columns,
            batch_size=batch_size, workers=workers, scheduler=scheduler, partition_rows=partition_rows,
            overwrite=overwrite, db=db, project=project, limit=limit,
        )  # fmt: skip
        return
    from covalue.engines.local import code_file, code_project, evidence_path

    coder, description = _make_coder(model, codebook, llm_url, llm_model)
    with _progress("Coding") as tick:
        if input is not None:
            if out is None:
                raise typer.BadParameter("give --out CODINGS.csv when coding a file")
            columns = {k: v for k, v in {"text": text_column, "id": id_column}.items() if v}
            parallel = 1 if llm_url else workers or 1  # the LLM coder reports failures in-process
            report = code_file(
                coder, input, out, columns=columns, batch_size=batch_size, workers=parallel, progress=tick
            )
            where = f"{out} and {evidence_path(out)}"
        else:
            with open_project(db, project) as (store, info):
                report = code_project(
                    coder, store, info, model=description, batch_size=batch_size, limit=limit, progress=tick
                )
            where = f"project {info.name!r} as coder {coder.name!r}"
    console.print(
        f"Coded {report.incidents:,} incidents ({report.codings:,} codes) in {report.seconds:.1f} s "
        f"({report.per_second:,.0f}/s) → {where}",
        highlight=False,
        soft_wrap=True,
    )
    failures = getattr(coder, "failures", [])
    if failures:
        err_console.print(f"[yellow]{len(failures)} incidents got no valid answer from the LLM:[/yellow]")
        for failure in failures[:10]:
            err_console.print(f"  {failure.incident_id}: {'; '.join(failure.problems)}", highlight=False, markup=False)


def train(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the trained model into.")],
    db: DbOption = None,
    project: ProjectOption = None,
    codebook: Annotated[str, typer.Option(help="Codebook (id or id@version) the codings use.")] = "vcd",
    coder: Annotated[
        list[str] | None,
        typer.Option("--coder", help="Learn from these coders, first wins (default: all humans)."),
    ] = None,
    encoder: Annotated[
        str, typer.Option(help="static-minilm (fast) or minilm-onnx (accurate) or none.")
    ] = "static-minilm",
    C: Annotated[float, typer.Option("-C", help="Inverse regularisation strength.")] = 4.0,
    seed: Annotated[int, typer.Option(help="Random seed (results are deterministic).")] = 0,
    name: Annotated[str, typer.Option(help="Name of the machine coder this model becomes.")] = "covalue-trained",
) -> None:
    """Fit the coder's heads on a project's human codings and save a versioned model."""
    from covalue.coding.features import FeatureSpace
    from covalue.coding.supervised import SupervisedCoder
    from covalue.coding.training import training_set

    with open_project(db, project) as (store, info):
        data = training_set(store, info, codebook, coder)
        _, book = store.codebook(info, codebook)
    features = FeatureSpace(encoder=None if encoder == "none" else encoder)
    model = SupervisedCoder(book, features=features, C=C, seed=seed, name=name)
    model.fit(data.texts, data.labels, data.sources, ids=data.ids)
    model.version = f"{len(data.texts)}-{model.training.labels_sha256[:8]}"
    model.save(out)
    console.print(
        f"Trained {name} {model.version} on {len(data.texts):,} incidents coded by {', '.join(data.coders)} "
        f"({', '.join(model.heads)}) → {out}",
        highlight=False,
        soft_wrap=True,
    )


def suggest_command(
    db: DbOption = None,
    project: ProjectOption = None,
    model: Annotated[str | None, typer.Option(help="Trained model folder or 'fast' (default: coverage only).")] = None,
    k: Annotated[int, typer.Option("-k", help="How many incidents to suggest.", min=1)] = 20,
    coder: Annotated[str | None, typer.Option(help="Leave out incidents this coder has coded.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rank uncoded incidents for a person to code next, most informative first."""
    from covalue.coding.active import suggest
    from covalue.coding.training import load_model

    trained = load_model(model) if model else None
    with open_project(db, project) as (store, info):
        names = [coder] if coder else [c.name for c in store.coders(info) if c.kind == "human"]
        coded = {c.incident_id for name in names for c in store.iter_codings(info, coder=name)}
        pending = [i for i in store.iter_incidents(info) if i.external_id not in coded]
    picks = suggest(
        [i.text for i in pending],
        [i.external_id for i in pending],
        coder=trained,
        sources=[i.source for i in pending],
        k=k,
    )
    if as_json:
        typer.echo(json.dumps([p.__dict__ for p in picks], indent=1))
        return
    texts = {i.external_id: " ".join(i.text.split()) for i in pending}
    table = Table("#", "incident", "uncertainty", "why", "text", title=f"Code these next ({len(pending):,} uncoded)")
    for rank, pick in enumerate(picks, start=1):
        text = texts[pick.incident_id]
        table.add_row(
            str(rank),
            pick.incident_id,
            f"{pick.uncertainty:.2f}",
            pick.reason,
            text[:70] + "…" * (len(text) > 70),
        )
    console.print(table, highlight=False)


def evaluate_command(
    gold: Annotated[Path | None, typer.Option("--gold", help="Reference labels (annotation-guide CSV).")] = None,
    pred: Annotated[Path | None, typer.Option("--pred", help="Predicted labels (annotation-guide CSV).")] = None,
    gold_coder: Annotated[str | None, typer.Option(help="Project mode: the reference coder.")] = None,
    pred_coder: Annotated[str | None, typer.Option(help="Project mode: the coder to score.")] = None,
    codebook: Annotated[str, typer.Option(help="Codebook id, YAML file, or id@version in a project.")] = "vcd",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    details: Annotated[bool, typer.Option("--details", help="Per-code scores and confusion matrices.")] = False,
    db: DbOption = None,
    project: ProjectOption = None,
) -> None:
    """Score a coder against reference labels: accuracy, κ, macro/micro-F1, per-code P/R/F1."""
    from covalue.coding.metrics import evaluate

    if gold is not None and pred is not None:
        book = load_codebook(codebook)
        truth, guess = read_label_csv(gold, book), read_label_csv(pred, book)
    elif gold_coder and pred_coder:
        from covalue.analysis.reliability import rows_from_store

        with open_project(db, project) as (store, info):
            pk, book = store.codebook(info, codebook)
            rows = rows_from_store(store, info, pk, [gold_coder, pred_coder])
        truth, guess = rows[gold_coder], rows[pred_coder]
    else:
        raise typer.BadParameter("give --gold and --pred files, or --gold-coder and --pred-coder with a project")
    result = evaluate(truth, guess, book)
    if not result.n:
        raise CovalueError("no item is in both the reference and the predictions")
    if as_json:
        typer.echo(json.dumps(result.to_dict(details=details), indent=1))
        return
    _print_evaluation(result, truth, details)


def _print_evaluation(result: Evaluation, truth: dict[str, LabelRow], details: bool) -> None:
    table = Table("field", "accuracy", "κ", "micro-F1", "macro-F1", "aggregate micro-F1", title=f"n = {result.n}")
    for name, score in result.fields.items():
        s = score.summary
        table.add_row(
            name,
            *(_fmt(s.get(key)) for key in ("accuracy", "kappa", "micro_f1", "macro_f1", "aggregate_micro_f1")),
        )
    console.print(table)
    if result.missing_in_prediction:
        console.print(f"[yellow]{len(result.missing_in_prediction)} reference items have no prediction.[/yellow]")
    if not details:
        return
    for name, score in result.fields.items():
        codes = Table("code", "precision", "recall", "F1", "support", title=name)
        for code, value in score.codes.items():
            codes.add_row(code, _fmt(value.precision), _fmt(value.recall), _fmt(value.f1), str(value.support))
        console.print(codes)
        if score.confusion:
            labels = list(score.confusion)
            matrix = Table("reference \\ predicted", *labels, title=f"{name}: confusion")
            for row in labels:
                matrix.add_row(row, *(str(score.confusion[row].get(col, 0)) for col in labels))
            console.print(matrix)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class _progress:
    """A Rich spinner with a count, shown only on a terminal."""

    def __init__(self, label: str) -> None:
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn(label),
            TextColumn("{task.completed:,} incidents"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not is_interactive(),
        )

    def __enter__(self):
        self.bar.__enter__()
        task = self.bar.add_task("coding", total=None)
        return lambda n: self.bar.update(task, completed=n)

    def __exit__(self, *exc_info) -> None:
        self.bar.__exit__(*exc_info)


code = handle_errors(code)
train = handle_errors(train)
suggest_command = handle_errors(suggest_command)
evaluate_command = handle_errors(evaluate_command)
