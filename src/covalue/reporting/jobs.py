"""The report jobs: a report of a stored project, and the one-shot ``analyze`` of a file.

``analyze`` is the main job a new user runs: import a file of incidents into a project
database in the output folder, code it with the default automatic coder, and write the
report, the workbook and the codings. Every step is resumable: run it again on the same
folder and it skips the import it already made and codes only what is not coded yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from covalue.analysis.frame import frame_from_store
from covalue.analysis.reliability import ReliabilityReport, reliability_from_rows, rows_from_store
from covalue.coding.training import trained_ids
from covalue.errors import CovalueError
from covalue.framework.codebook import Codebook
from covalue.framework.recommendations import bundled_recommendations
from covalue.model.incident import Coder
from covalue.reporting.build import ReportFiles, ReportInputs, build_report, write_report
from covalue.store.repository import ProjectInfo, Store

#: Frames above this many incidents are built without texts; examples fetch theirs by id.
TEXT_IN_FRAME_LIMIT = 200_000
CONSENSUS = "consensus"
REFERENCE_CODER = "reference"
ANALYZE_PROJECT = "analysis"

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def choose_coder(coders: Sequence[Coder], wanted: str | None) -> Coder:
    """The coder a report describes: the one asked for, else consensus, else a machine coder."""
    by_name = {c.name: c for c in coders}
    if wanted is not None:
        if wanted not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise CovalueError(f"no coder {wanted!r} in this project (coders: {known})")
        return by_name[wanted]
    if not coders:
        raise CovalueError("nothing is coded in this project yet: run `covalue code` first")
    if CONSENSUS in by_name:
        return by_name[CONSENSUS]
    machines = [c for c in coders if c.kind == "machine"]
    return (machines or list(coders))[0]


def _codebook_of(store: Store, project: ProjectInfo, key: str | None) -> tuple[int, Codebook]:
    books = store.codebooks(project)
    if not books:
        raise CovalueError(f"project {project.name!r} has no codebook")
    if key is None:
        if len(books) > 1:
            keys = ", ".join(k for _, k in books)
            raise CovalueError(f"project {project.name!r} has several codebooks ({keys}); choose one with --codebook")
        key = books[0][1]
    return store.codebook(project, key)


def project_reliability(
    store: Store,
    project: ProjectInfo,
    codebook_pk: int,
    codebook: Codebook,
    coders: Sequence[str],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[ReliabilityReport | None, frozenset[str]]:
    """Reliability of ``coders`` on the incidents all of them coded, and those incidents (None, empty: none)."""
    if len(coders) < 2:
        return None, frozenset()
    rows = rows_from_store(store, project, codebook_pk, coders)
    rows = {name: r for name, r in rows.items() if r}
    compared = frozenset(set.intersection(*(set(r) for r in rows.values()))) if len(rows) >= 2 else frozenset()
    if not compared:
        return None, frozenset()
    return reliability_from_rows(rows, codebook, bootstrap=bootstrap, seed=seed), compared


def project_report(
    store: Store,
    project: ProjectInfo,
    out_dir: str | Path,
    *,
    coder: str | None = None,
    codebook_key: str | None = None,
    compare: Sequence[str] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> ReportFiles:
    """Write the report of one coder's codings of a project (plus reliability against ``compare``)."""
    codebook_pk, codebook = _codebook_of(store, project, codebook_key)
    coders = store.coders(project)
    chosen = choose_coder(coders, coder)
    others = list(compare) if compare is not None else [c.name for c in coders if c.name != chosen.name]
    reliability, compared = project_reliability(
        store, project, codebook_pk, codebook, [chosen.name, *others], bootstrap=bootstrap, seed=seed
    )
    compared_coders = set(reliability.coders) if reliability is not None else set()
    trained = trained_ids(c for c in coders if c.name in compared_coders)
    with_text = store.count_incidents(project) <= TEXT_IN_FRAME_LIMIT
    frame = frame_from_store(store, project, chosen.name, codebook, codebook_pk=codebook_pk, with_text=with_text)
    if frame.empty:
        raise CovalueError(f"coder {chosen.name!r} has no incident-level codings under {codebook.key}")
    inputs = ReportInputs(
        frame=frame,
        codebook=codebook,
        project=project.name,
        coder=chosen,
        reliability=reliability,
        reliability_items=compared,
        training_ids=trained,
        recommendations=bundled_recommendations(codebook),
        text_of=None if with_text else _texts_from(store, project),
        seed=seed,
    )
    return write_report(build_report(inputs), out_dir)


def _texts_from(store: Store, project: ProjectInfo) -> Callable[[Sequence[str]], Mapping[str, str]]:
    def fetch(ids: Sequence[str]) -> Mapping[str, str]:
        return {item_id: store.incident(project, item_id).text for item_id in ids}

    return fetch


@dataclass(frozen=True)
class AnalyzeResult:
    database: Path
    codings: Path
    report: ReportFiles
    incidents: int
    coded_now: int
    seconds_coding: float


def analyze_file(
    source: str | Path,
    out_dir: str | Path,
    *,
    labels: str | Path | None = None,
    model: str = "fast",
    columns: dict[str, str] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    say: Say = _quiet,
    progress: Callable[[int], None] | None = None,
) -> AnalyzeResult:
    """Import ``source``, code it with the bundled coder, and write report, workbook and codings.

    ``labels`` (an annotation-guide CSV) are imported as coder ``reference``; the report then
    states the automatic coder's agreement with them.
    """
    from covalue.coding.base import coder_info
    from covalue.coding.training import load_model
    from covalue.engines.local import code_project
    from covalue.interchange.tables import export_codings

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    database = out / "covalue.db"
    coder = load_model(model)
    codebook = coder.codebook
    store = Store.open(str(database), create=True)
    try:
        project = _analysis_project(store, codebook)
        _import_once(store, project, Path(source), "incidents", say, lambda: _import(store, project, source, columns))
        if labels is not None:
            _import_once(store, project, Path(labels), "labels", say, lambda: _import_labels(store, project, labels))
        run = code_project(coder, store, project, model=f"supervised:{model}", progress=progress)
        say(f"Coded {run.incidents:,} incidents with the bundled {model} coder ({run.per_second:,.0f}/s).")
        name = coder_info(coder, f"supervised:{model}").name
        codings = out / "codings.csv"
        codebook_pk = store.add_codebook(project, codebook)
        export_codings(store, project, codings, coder=name, codebook=(codebook_pk, codebook), layout="guide")
        compare = [REFERENCE_CODER] if labels is not None else []
        files = project_report(
            store, project, out, coder=name, codebook_key=codebook.key, compare=compare, bootstrap=bootstrap, seed=seed
        )
        total = store.count_incidents(project)
    finally:
        store.close()
    return AnalyzeResult(database, codings, files, total, run.incidents, run.seconds)


def _analysis_project(store: Store, codebook: Codebook) -> ProjectInfo:
    if any(p.name == ANALYZE_PROJECT for p in store.projects()):
        return store.project(ANALYZE_PROJECT)
    project = store.create_project(ANALYZE_PROJECT, "Made by covalue analyze")
    store.add_codebook(project, codebook)
    return project


def _import(store: Store, project: ProjectInfo, source: str | Path, columns: dict[str, str] | None) -> str:
    from covalue.ingest.importer import ImportOptions, import_incidents

    report = import_incidents(store, project, source, ImportOptions(columns=columns or {}))
    return f"Imported {report.imported:,} incidents from {source}."


def _import_labels(store: Store, project: ProjectInfo, labels: str | Path) -> str:
    from covalue.ingest.labels import import_labels

    codebook = store.codebook(project, store.codebooks(project)[0][1])[1]
    report = import_labels(store, project, labels, codebook, Coder(name=REFERENCE_CODER))
    return f"Imported reference codes of {report.incidents:,} incidents from {labels} (coder {REFERENCE_CODER!r})."


def _import_once(store: Store, project: ProjectInfo, path: Path, kind: str, say: Say, run: Callable[[], str]) -> None:
    """Run an import unless this file was already imported into the project (a resumed job)."""
    target = path.resolve()
    done = [i for i in store.imports(project) if i["kind"] == kind and Path(i["path"]).resolve() == target]
    if done:
        say(f"{path} was imported before; keeping that import.")
        return
    say(run())
