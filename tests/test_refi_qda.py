"""REFI-QDA interchange: round trips, schema validity, vendor variants and hostile files.

The vendor fixtures under ``fixtures/refi/`` are hand-written in the style of each program's
exports (see the comment at the top of each file); they are zipped into ``.qdpx`` files here.
"""

from __future__ import annotations

import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from covalue.cli.main import app
from covalue.errors import CovalueError, InputError
from covalue.framework import load_codebook, parse_codebook
from covalue.framework.loader import bundled_codebook_ids
from covalue.ingest.importer import import_incidents
from covalue.ingest.labels import import_labels
from covalue.interchange.refi import (
    Limits,
    export_qdc,
    export_qdpx,
    import_qdc,
    import_qdpx,
    qdc_to_codebook,
    write_qdc,
)
from covalue.interchange.refi.validate import schema_errors, validate_qdc, validate_qdpx
from covalue.model import Coder, Coding, Incident, Span
from covalue.store import Store, refi_io
from covalue.store.repository import ProjectInfo

FIXTURES = Path(__file__).parent / "fixtures" / "refi"
SPAN_MEMO = "the customer's own words"


# -- helpers ------------------------------------------------------------------------------------
def zip_dir(folder: Path, out: Path) -> Path:
    """A .qdpx of a fixture folder (members in sorted order, folder names as written)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return out


def zip_members(out: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def coding_keys(store: Store, project: ProjectInfo) -> Counter:
    return Counter(
        (c.incident_id, c.coder, c.dimension, c.code_id, c.span, c.memo) for c in store.iter_codings(project)
    )


def fresh(store: Store, name: str) -> ProjectInfo:
    return store.create_project(name)


def nothing_written(store: Store, project: ProjectInfo) -> None:
    assert store.count_incidents(project) == 0
    assert store.coders(project) == []
    assert store.codebooks(project) == []
    assert store.imports(project) == []


@pytest.fixture(scope="module")
def example_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, ProjectInfo, Path]:
    """The bundled example (500 incidents, 260 gold-labelled) plus a second human coder with
    incident-level and span codings (some with memos) and a machine coder with confidence."""
    folder = tmp_path_factory.mktemp("refi-example")
    store = Store.open(f"sqlite:///{folder / 'covalue.db'}", create=True)
    project = store.create_project("example", "bundled example for REFI-QDA tests")
    vcd = load_codebook("vcd")
    example = Path(__file__).resolve().parents[1] / "src" / "covalue" / "data" / "example"
    import_incidents(store, project, example / "incidents.csv")
    import_labels(store, project, example / "labels_gold.csv", vcd, Coder("gold"))
    gold = [c for c in store.iter_codings(project, coder="gold") if c.dimension == "valence"][:60]
    texts = {c.incident_id: store.incident(project, c.incident_id).text for c in gold}
    alice: list[Coding] = []
    for k, coding in enumerate(gold):
        code = coding.code_id if k % 4 else "mixed"  # disagree now and then, as coders do
        alice.append(Coding(coding.incident_id, "valence", code, "alice"))
        if k < 25:
            end = min(12 + k, len(texts[coding.incident_id]))
            memo = SPAN_MEMO if k % 5 == 0 else None
            alice.append(Coding(coding.incident_id, "reasons", "R1.1", "alice", span=Span(3, end), memo=memo))
    machine = [
        Coding(c.incident_id, "valence", c.code_id, "auto", confidence=0.8, evidence=(Span(0, 5),)) for c in gold[:30]
    ]
    with store.connection() as connection:
        codebook_pk = store.add_codebook(project, vcd, connection)
        ids = {"alice": store.ensure_coder(project, Coder("alice"), connection)}
        ids["auto"] = store.ensure_coder(project, Coder("auto", "machine", "keyword", "0.1"), connection)
        pks = store.incident_pks(connection, project, list(texts))
        store.insert_codings(connection, project, codebook_pk, alice + machine, ids, pks)
    yield store, project, folder
    store.close()


@pytest.fixture(scope="module")
def exported(example_store: tuple[Store, ProjectInfo, Path]) -> Path:
    store, project, folder = example_store
    return export_qdpx(store, project, folder / "example.qdpx").path


@pytest.fixture(scope="module")
def round_trip(example_store, exported: Path):
    """The exported example imported into a fresh project: (target project, import report)."""
    store, _, _ = example_store
    target = fresh(store, "round-trip")
    return target, import_qdpx(store, target, exported)


# -- round trip ---------------------------------------------------------------------------------
def test_round_trip_keeps_every_incident_code_coder_and_coding(example_store, round_trip) -> None:
    store, project, _ = example_store
    target, report = round_trip
    assert report.incidents_added == store.count_incidents(project) == 500
    assert list(store.iter_incidents(target)) == list(store.iter_incidents(project))
    assert sorted(report.coders) == ["alice", "auto", "gold"]
    assert {c.name for c in store.coders(target)} == {"alice", "auto", "gold"}
    codings = coding_keys(store, target)
    assert codings == coding_keys(store, project)
    assert sum(codings.values()) == report.codings_added > 2213
    # The trailers name vcd@1.0.0, which covalue bundles: the full codebook comes back.
    assert report.codebook == "vcd@1.0.0"
    assert store.codebook(target, "vcd@1.0.0")[1].sha256 == load_codebook("vcd").sha256
    assert report.dropped == ["1 project description (the target project keeps its own)"]
    assert report.notes == []


def test_round_trip_keeps_guids(example_store, round_trip) -> None:
    store, project, _ = example_store
    target, _ = round_trip
    with store.connection() as connection:
        assert _incident_guids(connection, target) == _incident_guids(connection, project)
        assert _coder_guids(connection, target) == _coder_guids(connection, project)
        assert _coding_guids(connection, store, target) == _coding_guids(connection, store, project)
        source_pk = store.codebook(project, "vcd")[0]
        target_pk = store.codebook(target, "vcd")[0]
        assert refi_io.code_guids(connection, target_pk) == refi_io.code_guids(connection, source_pk)


def _incident_guids(connection, project: ProjectInfo) -> dict[str, str]:
    return {r.incident.external_id: r.guid for b in refi_io.iter_incident_records(connection, project) for r in b}


def _coder_guids(connection, project: ProjectInfo) -> dict[str, str]:
    return {c.name: c.guid for c in refi_io.coder_records(connection, project)}


def _coding_guids(connection, store: Store, project: ProjectInfo) -> set[str]:
    pk = store.codebook(project, "vcd")[0]
    incidents = [r.pk for b in refi_io.iter_incident_records(connection, project) for r in b]
    return {c.guid for c in refi_io.codings_of_incidents(connection, pk, incidents)}


def test_export_twice_gives_identical_bytes(example_store, exported: Path) -> None:
    store, project, folder = example_store
    again = export_qdpx(store, project, folder / "again.qdpx").path
    assert again.read_bytes() == exported.read_bytes()
    first = export_qdc(store, project, folder / "one.qdc").path
    second = export_qdc(store, project, folder / "two.qdc").path
    assert first.read_bytes() == second.read_bytes()


def test_exported_project_and_codebook_validate_against_the_xsds(example_store, exported: Path) -> None:
    store, project, folder = example_store
    validate_qdpx(exported)
    validate_qdc(export_qdc(store, project, folder / "valid.qdc").path)
    with zipfile.ZipFile(exported) as archive:
        names = archive.namelist()
        qde = archive.read("project.qde").decode("utf-8")
    assert names[0] == "project.qde" and len(names) == 501
    assert all(n.startswith("sources/") and n.endswith(".txt") for n in names[1:])
    assert 'xmlns="urn:QDA-XML:project:1.0"' in qde and "internal://" in qde


@pytest.mark.parametrize("codebook_id", bundled_codebook_ids())
def test_bundled_codebooks_export_as_valid_qdc_and_convert_back(tmp_path: Path, codebook_id: str) -> None:
    codebook = load_codebook(codebook_id)
    path = tmp_path / f"{codebook_id}.qdc"
    notes = write_qdc(codebook, path)
    validate_qdc(path)
    assert notes and "no REFI-QDA slot" in notes[0]
    back, _ = qdc_to_codebook(path)
    assert back.key == f"{codebook.id}@{codebook.version}+refi"
    assert back.dimension_ids == codebook.dimension_ids
    for dimension in codebook.dimensions:
        assert back.dimension(dimension.id).cardinality == dimension.cardinality
        assert back.dimension(dimension.id).required == dimension.required
    original = {(c.dimension, c.id): c for c in codebook.all_codes()}
    rebuilt = {(c.dimension, c.id): c for c in back.all_codes()}
    assert rebuilt.keys() == original.keys()
    for key, code in original.items():
        other = rebuilt[key]
        assert (other.parent, other.codable, other.code.name) == (code.parent, code.codable, code.code.name)
        assert (other.code.level, other.code.colour) == (code.code.level, code.code.colour)
        assert other.code.definition == code.code.definition


def test_export_report_lists_what_refi_qda_cannot_carry(example_store, exported: Path) -> None:
    store, project, folder = example_store
    report = export_qdpx(store, project, folder / "report.qdpx")
    dropped = "\n".join(report.dropped)
    assert "30 coding(s) had a confidence" in dropped
    assert "30 coding(s) had evidence spans" in dropped
    assert "'auto' is a machine coder (keyword, 0.1)" in dropped
    assert "indicators" in dropped and "vcd@1.0.0" in dropped
    assert (report.incidents, report.coders, report.codes) == (500, 3, 77)


def test_reimport_into_the_same_project_adds_nothing(example_store, exported: Path) -> None:
    store, project, _ = example_store
    before = coding_keys(store, project)
    report = import_qdpx(store, project, exported)
    assert (report.incidents_added, report.incidents_matched) == (0, 500)
    assert report.codings_added == 0 and report.codings_already_present == sum(before.values())
    assert report.codebook_origin.startswith("matched the project's codebook vcd@1.0.0 by code GUIDs")
    assert coding_keys(store, project) == before


def test_export_one_coder_only(example_store, tmp_path: Path) -> None:
    store, project, _ = example_store
    report = export_qdpx(store, project, tmp_path / "alice.qdpx", coder="alice")
    assert report.coders == 1 and report.codings == 85
    target = fresh(store, "alice-only")
    import_qdpx(store, target, report.path)
    assert {c.coder for c in store.iter_codings(target)} == {"alice"}


CUSTOM_TEXT = "Emoji 🙂 first,\r\nthen ünïcode: refund ✓ never came."
CUSTOM_INCIDENTS = [
    Incident(
        external_id="i1", text=CUSTOM_TEXT, source="test", relationship_type="B2B", channel="email",
        occurred_at=datetime(2024, 2, 3, 4, 5, 6), customer_id="c1", thread_id="t1", thread_position=0,
        metadata={"stars": 2, "score": 0.25, "flag": True, "tags": ["a", "b"], "none": None, "mixed": 1,
                  "note": "x & <y>"},
    ),
    Incident(external_id="i2", text="Short one.", metadata={"mixed": "one", "stars": 5}),
]  # fmt: skip


def custom_project(store: Store, name: str = "custom") -> ProjectInfo:
    """Non-BMP characters, CRLF text, odd metadata, a memo, and a codebook covalue does not bundle."""
    project = store.create_project(name)
    start = CUSTOM_TEXT.index("refund")
    with store.connection() as connection:
        codebook_pk = store.add_codebook(project, parse_codebook(CUSTOM_CODEBOOK, "custom.yaml"), connection)
        store.insert_incidents(connection, project, CUSTOM_INCIDENTS, None)
        ids = {"ann": store.ensure_coder(project, Coder("ann"), connection)}
        pks = store.incident_pks(connection, project, ["i1", "i2"])
        codings = [
            Coding("i1", "issue", "refund", "ann", span=Span(start, start + len("refund ✓"))),
            Coding("i1", "issue", "delay", "ann"),
            Coding("i2", "mood", "calm", "ann", memo="memo on a whole incident"),
        ]
        store.insert_codings(connection, project, codebook_pk, codings, ids, pks)
    return project


def test_spans_in_code_points_metadata_and_custom_codebook_round_trip(db_url: str, tmp_path: Path) -> None:
    store = Store.open(db_url, create=True)
    try:
        project = custom_project(store)
        report = export_qdpx(store, project, tmp_path / "custom.qdpx", validate=True)
        assert report.dropped == []
        target = store.create_project("back")
        back = import_qdpx(store, target, report.path)
        assert back.codebook == "custom@2.1.0+refi" and back.codebook_origin.startswith("rebuilt")
        assert list(store.iter_incidents(target)) == CUSTOM_INCIDENTS
        assert coding_keys(store, target) == coding_keys(store, project)
        span = next(c.span for c in store.iter_codings(target) if c.span is not None)
        assert span.text_of(store.incident(target, "i1").text) == "refund ✓"
        rebuilt = store.codebook(target, back.codebook)[1]
        assert rebuilt.dimension("issue").cardinality == "multi"
        assert rebuilt.code("issue", "money").code.level == "aggregate"
        assert not rebuilt.code("issue", "money").codable
    finally:
        store.close()


CUSTOM_CODEBOOK = """
id: custom
version: "2.1.0"
name: Custom test codebook
description: Two small dimensions.
dimensions:
  - id: issue
    name: Issue
    description: What went wrong.
    cardinality: multi
    codes:
      - id: money
        name: Money
        definition: Money matters.
        level: aggregate
        codable: false
        codes:
          - id: refund
            name: Refund
            definition: A refund is at stake.
            colour: "#A0B0C0"
      - id: delay
        name: Delay
        definition: Something took too long.
  - id: mood
    name: Mood
    description: How the customer sounds.
    cardinality: single
    codes:
      - id: calm
        name: Calm
        definition: No raised voice.
"""


# -- vendor variants ----------------------------------------------------------------------------
def test_maxqda_project(tmp_path: Path, sqlite_url: str) -> None:
    """Upper-case GUIDs, all codes codable, a memo-only selection, duplicate names, document variables."""
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("maxqda")
    report = import_qdpx(store, project, zip_dir(FIXTURES / "maxqda", tmp_path / "maxqda.qdpx"))
    assert [i.external_id for i in store.iter_incidents(project)] == ["Interview", "Interview (2)"]
    assert store.incident(project, "Interview").metadata == {"Gender": "female", "Age": 42}
    assert store.incident(project, "Interview (2)").metadata == {"Age": 35}
    assert coding_keys(store, project) == Counter(
        {
            ("Interview", "Anna", "service", "service_failure", Span(0, 30), None): 1,
            ("Interview", "Ben", "service", "service_failure", Span(0, 30), None): 1,
            ("Interview", "Anna", "emotions", "anger", Span(31, 45), None): 1,
            ("Interview", "Ben", "emotions", "emotions", Span(31, 45), None): 1,  # the group applied itself
            ("Interview", "Anna", "service", "service_recovery", None, None): 1,  # whole text
            ("Interview (2)", "Ben", "codes", "other", Span(35, 49), None): 1,
        }
    )
    codebook = store.codebook(project, report.codebook)[1]
    assert codebook.dimension_ids == ["emotions", "service", "codes"]
    assert codebook.code("emotions", "anger").code.colour == "#cc0000"
    assert codebook.dimension("emotions").description == "Feelings the caller reports."
    dropped = "\n".join(report.dropped)
    assert "1 selection(s) without codings" in dropped and "1 note(s)/memo(s)" in dropped
    with store.connection() as connection:  # the file's GUIDs are kept, normalised to lower case
        assert _coder_guids(connection, project)["Ben"] == "b0000000-0000-4000-8000-00000000000b"
        assert "f0000000-0000-4000-8000-000000000006" in _coding_guids_any(connection, project)
    store.close()


def _coding_guids_any(connection, project: ProjectInfo) -> set[str]:
    incidents = [r.pk for b in refi_io.iter_incident_records(connection, project) for r in b]
    return {
        c.guid
        for pk in refi_io.codebook_keys(connection, project).values()
        for c in refi_io.codings_of_incidents(connection, pk[0], incidents)
    }


def test_nvivo_project(tmp_path: Path, sqlite_url: str) -> None:
    """``Sources/`` folder, CRLF text counted as two characters, Cases, a source-level coding, a PDF."""
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("nvivo")
    report = import_qdpx(store, project, zip_dir(FIXTURES / "nvivo", tmp_path / "nvivo.qdpx"))
    incident = store.incident(project, "Participant 1 transcript")
    assert incident.text.startswith("Line one: the bill was wrong.\r\n")
    assert (incident.channel, incident.occurred_at) == ("phone", datetime(2023, 5, 4))
    assert incident.metadata == {"Age": 57, "case": "Participant 1"}
    spans = {c.code_id: c.span for c in store.iter_codings(project)}
    assert spans["wrong_bill"] is None
    assert spans["unreachable"].text_of(incident.text) == "nobody answered the phone"
    assert spans["refund_given"].text_of(incident.text) == "they refunded me in the end"
    assert {c.coder for c in store.iter_codings(project)} == {"Chris"}
    assert "1 PDF source(s) (only text is imported)" in report.dropped and "1 link(s)" in report.dropped
    store.close()


def test_atlasti_project(tmp_path: Path, sqlite_url: str) -> None:
    """Namespace 0:4, braced GUIDs, ``::`` names, CRLF counted as one character, user on selections."""
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("atlas")
    report = import_qdpx(store, project, zip_dir(FIXTURES / "atlasti", tmp_path / "atlas.qdpx"))
    incident = store.incident(project, "Focus group 1")
    quoted = {c.code_id: c.span.text_of(incident.text) for c in store.iter_codings(project)}
    assert quoted == {"diet_coke": "I love diet Coke.", "classic": "the classic one is too sweet",
                      "pepsi": "Pepsi is fine."}  # fmt: skip
    assert {c.coder for c in store.iter_codings(project)} == {"Dana"}
    codebook = store.codebook(project, report.codebook)[1]
    assert codebook.code("coke", "diet_coke").code.name == "diet Coke"
    assert codebook.dimension("coke").name == "Coke"
    assert any("'::'" in note for note in report.notes)


def test_qualcoder_project(tmp_path: Path, sqlite_url: str) -> None:
    """Inline text, categories as non-codable codes, a case over two sources, the project's user."""
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("qualcoder")
    report = import_qdpx(store, project, zip_dir(FIXTURES / "qualcoder", tmp_path / "qc.qdpx"))
    assert store.incident(project, "nurse.txt").text == "The nurse explained everything clearly."
    assert store.incident(project, "pharmacy.txt").metadata == {"Site": "north", "case": "North clinic"}
    coders = {c.code_id: c.coder for c in store.iter_codings(project)}
    assert coders == {"clear_explanation": "Eve", "lost_item": "default"}
    codebook = store.codebook(project, report.codebook)[1]
    assert codebook.dimension_ids == ["care"] and report.dropped == []


@pytest.mark.parametrize("name", ["maxqda", "nvivo", "qualcoder"])
def test_fixtures_in_the_1_0_namespace_are_schema_valid(name: str) -> None:
    """The hand-written fixtures are what the vendors' valid exports look like."""
    assert schema_errors((FIXTURES / name / "project.qde").read_bytes(), "project") == []


def test_qdc_variants(tmp_path: Path) -> None:
    maxqda, notes = qdc_to_codebook(FIXTURES / "maxqda.qdc")
    assert maxqda.dimension_ids == ["emotions", "service", "codes"]
    assert maxqda.code("service", "waiting").parent == "service_failure"
    assert "1 code set(s) (covalue has no code sets)" in notes
    atlas, notes = qdc_to_codebook(FIXTURES / "atlasti.qdc")
    assert atlas.dimension_ids == ["coke", "drinks", "codes"]
    assert atlas.code("drinks", "orange").ancestors == ("juice",)
    assert not atlas.code("drinks", "juice").codable
    flat, _ = qdc_to_codebook(FIXTURES / "qualcoder-flat.qdc")
    assert flat.dimension_ids == ["codes"]
    assert flat.code_ids("codes") == ["clear_explanation", "lost_item", "lost_item_2"]
    assert flat.code("codes", "clear_explanation").code.definition == "Staff explain what happens and why."


def test_import_qdc_attaches_the_codebook_and_writes_yaml(tmp_path: Path, sqlite_url: str) -> None:
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("qdc")
    report = import_qdc(store, project, FIXTURES / "maxqda.qdc", yaml_out=tmp_path / "out" / "maxqda.yaml")
    assert report.codebook == "maxqda@1.0.0" and report.codes == 6  # 2 groups became dimensions
    written = (tmp_path / "out" / "maxqda.yaml").read_text(encoding="utf-8")
    assert parse_codebook(written, "maxqda.yaml").sha256 == store.codebook(project, "maxqda")[1].sha256
    assert import_qdc(store, project, FIXTURES / "maxqda.qdc").codebook == "maxqda@1.0.0"  # idempotent
    with store.connection() as connection:  # codes keep the file's GUIDs
        guids = refi_io.code_guids(connection, store.codebook(project, "maxqda")[0])
    assert guids[("emotions", "anger")] == "c0000000-0000-4000-8000-000000000002"
    store.close()


# -- hostile and broken files -------------------------------------------------------------------
XXE_TEMPLATE = """<?xml version="1.0"?>
<!DOCTYPE Project [<!ENTITY secret SYSTEM "file://{path}">]>
<Project xmlns="urn:QDA-XML:project:1.0" name="&secret;"/>"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<{root} name="&lol9;"/>"""
GOOD_QDE = (FIXTURES / "qualcoder" / "project.qde").read_text(encoding="utf-8")
GOOD_TEXT = (FIXTURES / "qualcoder" / "sources" / "4d5e6f70-0002-4000-8000-000000000002.txt").read_bytes()


def _hostile_qdpx(kind: str, tmp_path: Path) -> tuple[Path, str, Limits]:
    """A hostile or broken .qdpx, the message its error must contain, and the limits to use."""
    path, limits = tmp_path / f"{kind}.qdpx", Limits()
    source = "sources/4d5e6f70-0002-4000-8000-000000000002.txt"
    if kind == "xxe":
        secret = tmp_path / "secret.txt"
        secret.write_text("TOP-SECRET", encoding="utf-8")
        zip_members(path, {"project.qde": XXE_TEMPLATE.format(path=secret)})
        return path, "refused: the XML declares entities", limits
    if kind == "billion-laughs":
        zip_members(path, {"project.qde": LAUGHS.format(root="Project")})
        return path, "refused: the XML declares entities", limits
    if kind == "zip-slip":
        zip_members(path, {"project.qde": GOOD_QDE, source: GOOD_TEXT, "../evil.txt": b"gotcha"})
        return path, "'../evil.txt' points outside the archive", limits
    if kind == "absolute-path":
        zip_members(path, {"project.qde": GOOD_QDE, "/etc/evil.txt": b"gotcha"})
        return path, "points outside the archive", limits
    if kind == "truncated":
        whole = zip_members(tmp_path / "whole.qdpx", {"project.qde": GOOD_QDE, source: GOOD_TEXT})
        path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        return path, "not a zip archive", limits
    if kind == "corrupt-member":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("project.qde", GOOD_QDE)
        data = bytearray(path.read_bytes())
        middle = data.index(b"<Users>")
        data[middle : middle + 7] = b"<Uxxxs>"  # same length, wrong CRC
        path.write_bytes(bytes(data))
        return path, "damaged or truncated zip member", limits
    if kind == "oversized-member":
        zip_members(path, {"project.qde": GOOD_QDE, source: GOOD_TEXT})
        return path, "over the limit of 20", Limits(max_member_bytes=20)
    if kind == "zip-bomb":
        zip_members(path, {"project.qde": GOOD_QDE, source: b"A" * 3_000_000})
        return path, "looks like a zip bomb", limits
    if kind == "not-a-zip":
        path.write_text("item_id,text\n1,hello\n", encoding="utf-8")
        return path, "not a zip archive", limits
    if kind == "malformed-xml":
        zip_members(path, {"project.qde": GOOD_QDE[: len(GOOD_QDE) // 2]})
        return path, "not well-formed XML", limits
    if kind == "missing-source":
        zip_members(path, {"project.qde": GOOD_QDE})
        return path, "which is not in the archive", limits
    if kind == "no-project":
        zip_members(path, {"readme.txt": "hello"})
        return path, "no project.qde", limits
    raise AssertionError(kind)


HOSTILE = [
    "xxe", "billion-laughs", "zip-slip", "absolute-path", "truncated", "corrupt-member", "oversized-member",
    "zip-bomb", "not-a-zip", "malformed-xml", "missing-source", "no-project",
]  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_or_broken_qdpx_fails_safely(kind: str, tmp_path: Path, sqlite_url: str) -> None:
    path, message, limits = _hostile_qdpx(kind, tmp_path)
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("target")
    with pytest.raises(InputError) as caught:
        import_qdpx(store, project, path, limits=limits)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert "TOP-SECRET" not in str(caught.value)
    nothing_written(store, project)
    assert not (tmp_path.parent / "evil.txt").exists()
    store.close()


@pytest.mark.parametrize("content", ["xxe", "laughs", "broken", "wrong-root"])
def test_hostile_or_broken_qdc_fails_safely(content: str, tmp_path: Path, sqlite_url: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    texts = {
        "xxe": XXE_TEMPLATE.format(path=secret).replace("Project", "CodeBook"),
        "laughs": LAUGHS.format(root="CodeBook"),
        "broken": '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid=',
        "wrong-root": '<Project xmlns="urn:QDA-XML:project:1.0" name="x"/>',
    }
    path = tmp_path / "hostile.qdc"
    path.write_text(texts[content], encoding="utf-8")
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("target")
    with pytest.raises(InputError, match=r"hostile\.qdc") as caught:
        import_qdc(store, project, path)
    assert "TOP-SECRET" not in str(caught.value)
    nothing_written(store, project)
    store.close()


def test_a_conflict_late_in_the_import_rolls_everything_back(tmp_path: Path, sqlite_url: str) -> None:
    """Codebook and coders are written before incidents; a clash there must undo them too."""
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("clash")
    with store.connection() as connection:
        store.insert_incidents(connection, project, [Incident("nurse.txt", "Another text entirely.")], None)
    with pytest.raises(InputError, match=r"already has an incident 'nurse\.txt' with another text"):
        import_qdpx(store, project, zip_dir(FIXTURES / "qualcoder", tmp_path / "qc.qdpx"))
    assert store.count_incidents(project) == 1
    assert store.coders(project) == [] and store.codebooks(project) == [] and store.imports(project) == []
    store.close()


# -- command line -------------------------------------------------------------------------------
def test_cli_export_and_import(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "cli.db")
    store = Store.open(db, create=True)
    custom_project(store, "a")
    store.create_project("b")
    store.close()

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--db", db])
        assert result.exit_code == 0, result.output
        return result.output

    out = run("export", str(tmp_path / "a.qdpx"), "-p", "a")
    assert "Wrote 2 incidents, 4 codes (custom@2.1.0), 1 coder(s) and 3 codings" in out
    out = run("export", str(tmp_path / "a-codebook"), "--format", "qdc", "-p", "a")
    assert "Wrote codebook custom@2.1.0 (4 codes)" in out
    out = run("import", str(tmp_path / "a.qdpx"), "-p", "b", "--codebook-out", str(tmp_path / "b.yaml"))
    assert "Imported 2 incidents, 3 codings by 1 coder(s) (ann)" in out
    assert parse_codebook((tmp_path / "b.yaml").read_text(encoding="utf-8")).key == "custom@2.1.0+refi"
    qdc = tmp_path / "a.qdc"
    qdc.write_bytes((tmp_path / "a-codebook").read_bytes())
    out = run("import", str(qdc), "-p", "b")
    assert "Attached codebook custom@2.1.0+refi" in out  # the same rebuilt codebook: attached once


def test_cli_reports_a_hostile_file_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "cli.db")
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0
    path, _, _ = _hostile_qdpx("zip-slip", tmp_path)
    result = runner.invoke(app, ["import", str(path), "--db", db])
    assert result.exit_code == 1
    assert "zip-slip" in result.output and "Nothing was written." in result.output


def test_export_needs_a_choice_between_codebooks(tmp_path: Path, sqlite_url: str) -> None:
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("two")
    store.add_codebook(project, load_codebook("vcd"))
    store.add_codebook(project, load_codebook("cit-service-encounter"))
    with pytest.raises(CovalueError, match="choose one with --codebook"):
        export_qdpx(store, project, tmp_path / "x.qdpx")
    report = export_qdpx(store, project, tmp_path / "x.qdpx", codebook="cit-service-encounter", validate=True)
    assert report.codebook.startswith("cit-service-encounter@") and report.incidents == 0
    store.close()
