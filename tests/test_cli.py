"""The command line: every command's help, the main job on real data, and clean error exits."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner, Result

import covalue
from covalue.cli import common
from covalue.cli.main import app
from covalue.store import Store

ENV = {"COLUMNS": "200", "COVALUE_DATABASE_URL": None}  # wide: tables and help lines are not cut
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # CI may force colours (FORCE_COLOR, GITHUB_ACTIONS)
runner = CliRunner()

TINY = """\
id: tiny
version: 1.0.0
name: Tiny
description: A two-code test codebook.
dimensions:
  - id: outcome
    name: Outcome
    description: How it ended.
    cardinality: single
    codes:
      - id: good
        name: Good
        definition: It went well.
      - id: bad
        name: Bad
        definition: It went badly.
"""


@pytest.fixture(autouse=True)
def terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal (xdist workers fix the consoles at 80 columns on import)."""
    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "size", (200, 50))


def plain(text: str) -> str:
    return ANSI.sub("", text)


def flat(text: str) -> str:
    """Whitespace collapsed, so that wrapped lines still match."""
    return " ".join(plain(text).split())


def run(*args: Any) -> Result:
    return runner.invoke(app, [str(a) for a in args], env=ENV)


def ok(*args: Any) -> str:
    result = run(*args)
    assert result.exit_code == 0, f"{args}: {result.output}"
    assert result.exception is None
    return plain(result.stdout)


def fails(*args: Any) -> str:
    """Run a command (or take its result) that must fail cleanly; return its one 'error:' line."""
    result = args[0] if isinstance(args[0], Result) else run(*args)
    assert result.exit_code == 1, f"{args}: exit {result.exit_code}: {result.output}"
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
    output = plain(result.output)
    assert "Traceback" not in output
    assert plain(result.stdout) == ""
    lines = plain(result.stderr).splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    assert lines[0] == errors[0]
    return errors[0]


# --------------------------------------------------------------------------------------------
# Help and version


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    found = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(get_command(app), ())
    return found


COMMANDS = _commands()


def test_every_command_and_group_is_covered() -> None:
    paths = {path for path, _ in COMMANDS}
    assert paths >= {
        (), ("init",), ("summary",), ("demo",), ("example",), ("import",), ("export",),
        ("codebook",), ("codebook", "list"), ("codebook", "show"), ("codebook", "validate"),
        ("incidents",), ("incidents", "list"), ("incidents", "show"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("path", "command"), [pytest.param(*item, id=" ".join(item[0]) or "covalue") for item in COMMANDS]
)
def test_help(path: tuple[str, ...], command: Any) -> None:
    text = ok(*path, "--help")
    assert f"Usage: covalue {' '.join(path)}".rstrip() in flat(text)
    for param in command.params:
        names = param.opts if param.param_type_name == "option" else [param.name]
        assert any(name in text for name in names), f"{path}: {names} not in help"
    for name in getattr(command, "commands", {}):  # a group lists its commands
        assert re.search(rf"^\W*{re.escape(name)}\b", text, re.MULTILINE), f"{path}: {name} not listed"


def test_main_help_and_version() -> None:
    text = flat(ok("--help"))
    assert "value co-creation and co-destruction" in text
    assert ok("--version") == f"covalue {covalue.__version__}\n"
    assert covalue.__version__ == "0.1.0"


# --------------------------------------------------------------------------------------------
# The main job on the dev set


@pytest.fixture(scope="module")
def project_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """init twice, import the dev items and the gold labels; keeps each command's output."""
    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (data / "dev_items.csv").exists():
        pytest.skip(f"shared data not found at {data}")
    folder = tmp_path_factory.mktemp("cli")
    db = folder / "study.db"
    outputs = {
        "init": ok("init", "--db", db, "--project", "air", "--description", "dev set"),
        "init again": ok("init", "--db", db, "--project", "air"),
        "import": ok("import", data / "dev_items.csv", "--db", db),
        "labels": ok("import", data / "dev_gold.csv", "--labels", "--coder", "gold", "--db", db),
    }
    yield {"db": db, "data": data, "outputs": outputs}


def test_init_creates_and_is_idempotent(project_db: dict[str, Any]) -> None:
    db, outputs = project_db["db"], project_db["outputs"]
    assert flat(outputs["init"]) == f"Created project air in sqlite:///{db}."
    assert flat(outputs["init again"]) == f"Found existing project air in sqlite:///{db}."
    store = Store.open(str(db))
    try:
        [project] = store.projects()
        assert (project.name, project.description) == ("air", "dev set")
        assert [key for _, key in store.codebooks(project)] == ["vcd@1.0.0"]
    finally:
        store.close()


def test_import_reports_rows_and_columns(project_db: dict[str, Any]) -> None:
    text = flat(project_db["outputs"]["import"])
    assert text.startswith(f"Imported 260 incidents from {project_db['data'] / 'dev_items.csv'} (csv) in ")
    assert "rows/s" in text
    assert "Columns: text='text', id='item_id', source='source'" in text
    assert "Skipped" not in text


def test_import_labels_reports_codings(project_db: dict[str, Any]) -> None:
    with (project_db["data"] / "dev_gold.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    codings = sum(len(cell.split(";")) for row in rows for key, cell in row.items() if key != "item_id" and cell)
    text = flat(project_db["outputs"]["labels"])
    assert text.startswith(
        f"Imported {codings} codings of 260 incidents as coder gold (vcd@1.0.0; valence, reasons, "
        "negative_factors, positive_factors, phase, initiator, wellbeing_decline, coping, resources_lost)"
    )


def test_summary(project_db: dict[str, Any]) -> None:
    text = flat(ok("summary", "--db", project_db["db"]))
    assert "Project air: 260 incidents" in text
    assert "Dates: 2015-08-23 to 2020-01-16" in text
    for source, count in [
        ("cfpb", 70),
        ("airline", 60),
        ("twcs", 50),
        ("booking", 40),
        ("nhs_care_opinion", 40),
    ]:
        assert re.search(rf"│ {source} +│ {count} +│", text), source
    assert re.search(r"│ G2C +│ 40 +│", text)
    assert "Codebooks: vcd@1.0.0" in text
    assert re.search(r"│ gold +│ human +│ 260 +│ 2,213 +│", text)
    assert "co_destruction (168), mixed (36), co_creation (34), no_creation (22)" in text


def test_incidents_list_and_show(project_db: dict[str, Any]) -> None:
    db = project_db["db"]
    text = ok("incidents", "list", "--db", db, "--limit", 3, "--offset", 1)
    assert "air: 260 incidents" in text
    ids = re.findall(r"^│ (\S+) +│", text, re.MULTILINE)
    assert ids == ["cfpb-3167372", "cfpb-3129678", "cfpb-3285456"]
    airline = ok("incidents", "list", "--db", db, "--source", "airline", "--limit", 2)
    assert all(row.startswith("air-") for row in re.findall(r"^│ (\S+) +│", airline, re.MULTILINE))

    shown = ok("incidents", "show", "cfpb-3416143", "--db", db, "--project", "air")
    assert "source: cfpb" in shown
    assert "date: 2019-10-23T00:00:00" in shown
    assert '"company": "Certegy Holdings, LLC"' in shown
    assert "The bank-XXXX put accidentally a stop payment on 100 of my checks not 10." in shown
    codings = re.findall(r"^│ gold +│ (\w+) +│ ([\w.]+) +│", shown, re.MULTILINE)
    assert codings[:4] == [
        ("valence", "co_destruction"),
        ("reasons", "R3.2"),
        ("reasons", "R4.2"),
        ("reasons", "R9.1"),
    ]
    assert len(codings) == 13


def test_export_incidents_and_codings(project_db: dict[str, Any], tmp_path: Path) -> None:
    db, data = project_db["db"], project_db["data"]
    out = tmp_path / "incidents.jsonl"
    assert flat(ok("export", out, "--db", db)) == f"Wrote 260 incidents to {out}."
    assert len(out.read_text(encoding="utf-8").splitlines()) == 260

    guide = tmp_path / "gold.csv"
    text = ok("export", guide, "--what", "codings", "--coder", "gold", "--layout", "guide", "--db", db)
    assert flat(text) == f"Wrote 260 rows to {guide}."
    with guide.open(newline="") as written, (data / "dev_gold.csv").open(newline="") as original:
        assert list(csv.reader(written)) == list(csv.reader(original))

    wrong = run("export", tmp_path / "x.csv", "--what", "codes", "--db", db)
    assert wrong.exit_code == 2  # a usage error, as Typer reports them
    assert "--what must be 'incidents' or 'codings'" in flat(wrong.output)
    assert not (tmp_path / "x.csv").exists()


# --------------------------------------------------------------------------------------------
# Codebooks


def test_codebook_list_and_show() -> None:
    text = ok("codebook", "list")
    assert re.findall(r"^│ ([\w-]+) +│ (\d+\.\d+\.\d+) +│", text, re.MULTILINE) == [
        ("cit-service-encounter", "1.0.0"),
        ("collective-consumption", "1.0.0"),
        ("vcd", "1.0.0"),
    ]
    shown = ok("codebook", "show", "vcd", "--dimension", "reasons", "--details")
    assert "(vcd@1.0.0)" in shown
    assert re.search(r"R4 .*\(grouping\)", shown)
    assert re.search(r"R4\.2 ", shown)
    assert "valence" not in shown.split("\n", 2)[2]  # only the chosen dimension
    assert "•" in shown  # indicators are printed with --details


def test_codebook_validate(tmp_path: Path) -> None:
    good = tmp_path / "tiny.yaml"
    good.write_text(TINY, encoding="utf-8")
    assert flat(ok("codebook", "validate", good)) == f"ok {good}: tiny@1.0.0, 1 dimensions, 2 codable codes"

    broken = tmp_path / "broken.yaml"
    broken.write_text(TINY.replace("        definition: It went badly.\n", ""), encoding="utf-8")
    result = run("codebook", "validate", good, broken)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"ok {good}" in flat(result.stdout)
    errors = plain(result.stderr).splitlines()
    assert errors == [f"error: {broken}:14: dimensions[0].codes[1].definition: Field required"]


# --------------------------------------------------------------------------------------------
# Errors: exit 1, one "error:" line, no traceback


def test_import_of_a_bad_file_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    ok("init", "--db", db)
    bad = tmp_path / "tweets.csv"
    bad.write_text('tweet_id,text\n1,"fine"\n2,"also fine"\n3,"   "\n4,"never reached"\n', encoding="utf-8")
    result = run("import", bad, "--db", db)
    assert fails(result) == f"error: {bad}:4: field 'text': empty text"
    assert plain(result.stderr).splitlines()[1:] == ["Nothing was written."]
    store = Store.open(str(db))
    try:
        project = store.project()
        assert store.count_incidents(project) == 0
        assert store.imports(project) == []
    finally:
        store.close()
    # With --skip-bad the good rows go in and the bad one is listed.
    text = flat(ok("import", bad, "--db", db, "--skip-bad"))
    assert text.startswith(f"Imported 3 incidents from {bad} (csv)")
    assert f"Skipped 1 bad rows (--skip-bad): {bad}:4: field 'text': empty text" in text


def test_commands_on_a_database_never_initialised(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    expected = f"error: no covalue database at sqlite:///{db}; run `covalue init` first or pass --db"
    assert fails("summary", "--db", db) == expected
    assert fails("incidents", "list", "--db", db) == expected
    assert fails("export", tmp_path / "out.csv", "--db", db) == expected
    assert not (tmp_path / "out.csv").exists()


def test_unknown_project_incident_and_codebook(project_db: dict[str, Any], tmp_path: Path) -> None:
    db = project_db["db"]
    assert fails("summary", "--db", db, "--project", "nope") == "error: no project named 'nope' (projects: air)"
    assert fails("incidents", "show", "nope-1", "--db", db) == "error: project 'air' has no incident 'nope-1'"
    assert fails("codebook", "show", "nope").startswith(
        "error: unknown codebook 'nope': bundled ones are cit-service-encounter, collective-consumption, vcd"
    )
    labels = project_db["data"] / "dev_gold.csv"
    assert fails("import", labels, "--labels", "--codebook", "nope", "--db", db).startswith(
        "error: unknown codebook 'nope'"
    )
    out = tmp_path / "codings.csv"
    assert fails("export", out, "--what", "codings", "--codebook", "nope", "--db", db) == (
        "error: project 'air' has no codebook 'nope'"
    )
    assert not out.exists()


def test_messages_keep_paths_whole_on_a_narrow_console(
    monkeypatch: pytest.MonkeyPatch, shared_data: Path, tmp_path: Path
) -> None:
    """Output piped to a log is 80 columns wide; a file path must still come out on one line."""
    folder = tmp_path / ("a-rather-long-folder-name-for-the-study-" * 2)
    folder.mkdir()
    db, items = folder / "study.db", folder / "dev_items_with_a_long_name.csv"
    items.write_bytes((shared_data / "dev_items.csv").read_bytes())
    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "size", (40, 25))
    assert ok("init", "--db", db).splitlines() == [f"Created project default in sqlite:///{db}."]
    lines = ok("import", items, "--db", db).splitlines()
    assert lines[0].startswith(f"Imported 260 incidents from {items} (csv) in ")
    assert lines[1] == "Columns: text='text', id='item_id', source='source'"
    out = folder / "incidents.csv"
    assert ok("export", out, "--db", db).splitlines() == [f"Wrote 260 incidents to {out}."]
    assert fails("import", items, "--db", db).startswith(f"error: {items}:2: field 'item_id': duplicate id")


# --------------------------------------------------------------------------------------------
# The bundled example, and the installed console script


def test_demo(tmp_path: Path) -> None:
    folder = tmp_path / "example"
    text = flat(ok("demo", "--dir", folder))
    assert f"Imported 500 incidents from {folder / 'incidents.csv'}." in text
    assert "Imported 2213 reference codings of 260 incidents (coder 'gold')." in text
    assert "Project example: 500 incidents" in text
    assert re.search(r"│ gold +│ human +│ 260 +│ 2,213 +│", text)
    assert text.endswith(f"Database: {folder / 'covalue.db'}")
    assert sorted(p.name for p in folder.iterdir()) == [
        "SOURCES.md",
        "covalue.db",
        "incidents.csv",
        "labels_gold.csv",
    ]


def test_example_writes_the_bundled_files(example_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "folder"
    lines = ok("example", folder).splitlines()
    names = ["incidents.csv", "labels_gold.csv", "SOURCES.md"]
    assert lines == [f"wrote {folder / name}" for name in names]
    for name in names:
        assert (folder / name).read_bytes() == (example_dir / name).read_bytes()


def _console_script() -> str:
    """The script installed beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "covalue"
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("covalue")
    if found is None:
        pytest.skip("the covalue console script is not installed")
    return found


def test_installed_console_script_exit_codes(tmp_path: Path) -> None:
    """A real process: the exit code and stderr a shell script or CI job sees."""
    covalue_bin = _console_script()
    db = tmp_path / "study.db"
    ok("init", "--db", db)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text\n1,ok\n2,ok,extra\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "COVALUE_DATABASE_URL"}
    done = subprocess.run(
        [covalue_bin, "import", str(bad), "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert plain(done.stderr).splitlines() == [
        f"error: {bad}:3: expected 2 fields, found 3",
        "Nothing was written.",
    ]
