"""Inter-coder reliability: every statistic against statsmodels and `krippendorff`, hand-worked cases,
label-level reports (pooling, roll-up), bootstrap, adjudication, the store and the CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import krippendorff
import numpy as np
import pytest
import typer
from statsmodels.stats import inter_rater
from typer.testing import CliRunner

from covalue.analysis import (
    STATISTICS,
    agreement_table,
    bootstrap_ci,
    brennan_prediger,
    cohen_kappa,
    disagreements,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    percent_agreement,
    perreault_leigh,
    read_label_csv,
    record_consensus,
    reliability_from_rows,
    rows_from_store,
    span_agreement,
    write_disagreements,
)
from covalue.cli.agree import agree, consensus
from covalue.errors import CovalueError, InputError, StoreError
from covalue.framework import load_codebook
from covalue.model import GUIDE_FIELDS, Coding, Incident, LabelRow, Span
from covalue.store import Store

TOL = 1e-9
VCD = load_codebook("vcd")
HEADER = ["item_id", *GUIDE_FIELDS]


# --------------------------------------------------------------------------------------------
# Reference implementations on an integer matrix (units × coders, -1 = missing)


def reference(matrix: np.ndarray, k: int) -> dict[str, float]:
    """statsmodels and krippendorff on the same data (Fleiss and Randolph on complete units)."""
    matrix = np.asarray(matrix)
    complete = matrix[(matrix >= 0).all(axis=1)]
    counts, _ = inter_rater.aggregate_raters(complete, n_cat=k)
    data = np.where(matrix >= 0, matrix, np.nan).T  # krippendorff wants coders × units
    values = {
        "fleiss_kappa": inter_rater.fleiss_kappa(counts, method="fleiss"),
        "brennan_prediger": inter_rater.fleiss_kappa(counts, method="randolph"),
        "krippendorff_alpha": krippendorff.alpha(
            reliability_data=data, level_of_measurement="nominal", value_domain=list(range(k))
        ),
    }
    if matrix.shape[1] == 2:
        values["cohen_kappa"] = inter_rater.cohens_kappa(inter_rater.to_table(complete)[0]).kappa
    return values


def assert_matches_references(matrix: np.ndarray, k: int) -> None:
    """Our statistics (function by function and via agreement_table) equal the packages' to 1e-9."""
    expected = reference(matrix, k)
    ours = {
        "fleiss_kappa": fleiss_kappa(_complete(matrix)),
        "brennan_prediger": brennan_prediger(_complete(matrix), k),
        "krippendorff_alpha": krippendorff_alpha_nominal(_missing_as_none(matrix)),
    }
    if matrix.shape[1] == 2:
        ours["cohen_kappa"] = cohen_kappa(_complete(matrix))
    table = agreement_table(_complete(matrix), k=k, n_boot=0)
    for name, value in expected.items():
        assert _close(ours[name], value), (name, ours[name], value)
        if name != "krippendorff_alpha":
            assert _close(getattr(table, name), value), (name, getattr(table, name), value)
    assert _close(table.perreault_leigh, math.sqrt(max(expected["brennan_prediger"], 0.0)))


def _complete(matrix: np.ndarray) -> np.ndarray:
    return matrix[(matrix >= 0).all(axis=1)]


def _missing_as_none(matrix: np.ndarray) -> list[list[int | None]]:
    return [[int(v) if v >= 0 else None for v in row] for row in matrix]


def _close(a: float | None, b: float) -> bool:
    assert a is not None
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOL


# --------------------------------------------------------------------------------------------
# (a) The toy case of reliability.md, worked by hand


# 10 incidents, 3 categories; 8 agreements (1×3, 2×2, 3×3) and two swaps (1,2) and (2,1).
TOY_A = [1, 1, 1, 2, 2, 3, 3, 3, 1, 2]
TOY_B = [1, 1, 1, 2, 2, 3, 3, 3, 2, 1]
TOY = np.column_stack([TOY_A, TOY_B]) - 1


def test_toy_case_by_hand_and_against_the_packages() -> None:
    # Po = 8/10; both coders' marginals are (4, 3, 3)/10, so Pe = .16 + .09 + .09 = .34 for
    # Cohen and for Fleiss (pooled marginals are the same); κ = (.8 − .34)/.66 = 23/33.
    # α: n = 20 values, n_c = (8, 6, 6), 2 disagreeing units × 2 ordered pairs = 4,
    # α = 1 − 19·4 / (400 − 136) = 1 − 76/264. κBP = (.8 − 1/3)/(2/3) = .7, Ir = √.7.
    matrix = list(zip(TOY_A, TOY_B, strict=True))
    assert percent_agreement(matrix) == pytest.approx(0.8, abs=TOL)
    assert cohen_kappa(matrix) == pytest.approx(23 / 33, abs=TOL)
    assert fleiss_kappa(matrix) == pytest.approx(23 / 33, abs=TOL)
    assert krippendorff_alpha_nominal(matrix) == pytest.approx(1 - 76 / 264, abs=TOL)
    assert brennan_prediger(matrix, 3) == pytest.approx(0.7, abs=TOL)
    assert perreault_leigh(matrix, 3) == pytest.approx(math.sqrt(0.7), abs=TOL)
    # the rounded figures the spec quotes
    table = agreement_table(matrix, k=3, n_boot=0)
    rounded = {name: round(value, 3) for name, value in table.statistics().items()}
    assert rounded == {
        "percent_agreement": 0.8,
        "cohen_kappa": 0.697,
        "fleiss_kappa": 0.697,
        "krippendorff_alpha": 0.712,
        "brennan_prediger": 0.7,
        "perreault_leigh": 0.837,
    }
    assert_matches_references(TOY, 3)


def test_krippendorff_default_is_interval_the_pitfall() -> None:
    """`krippendorff.alpha` without a level is interval α, which differs on nominal data."""
    data = np.array(TOY_A + TOY_B, dtype=float).reshape(2, 10)
    nominal = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert nominal == pytest.approx(krippendorff_alpha_nominal(TOY), abs=TOL)
    assert abs(krippendorff.alpha(reliability_data=data) - nominal) > 0.01


# --------------------------------------------------------------------------------------------
# (b) Krippendorff's own nominal example, with missing data

_ = None
KRIPPENDORFF = [  # coders × units, from Krippendorff's worked example (α nominal .691, interval .811)
    [_, _, _, _, _, 3, 4, 1, 2, 1, 1, 3, 3, _, 3],
    [1, _, 2, 1, 3, 3, 4, 3, _, _, _, _, _, _, _],
    [_, _, 2, 1, 3, 4, 4, _, 2, 1, 1, 3, 3, _, 4],
]


def test_krippendorff_example_with_missing_data() -> None:
    units = [list(column) for column in zip(*KRIPPENDORFF, strict=True)]
    alpha = krippendorff_alpha_nominal(units)
    assert round(alpha, 3) == 0.691
    data = np.array([[np.nan if v is None else v for v in row] for row in KRIPPENDORFF], dtype=float)
    assert alpha == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"), abs=TOL)
    assert round(krippendorff.alpha(reliability_data=data), 3) == 0.811  # interval, not what we want
    # Fleiss uses complete units only: the same as statsmodels on those units
    codes = np.array([[-1 if v is None else v - 1 for v in row] for row in units])
    assert_matches_references(codes, 4)
    assert fleiss_kappa(units) == pytest.approx(fleiss_kappa(_missing_as_none(_complete(codes))), abs=TOL)


def test_cohen_needs_two_coders_and_missing_values_are_none_or_nan() -> None:
    with pytest.raises(ValueError, match="exactly two coders"):
        cohen_kappa([[1, 1, 1], [2, 2, 1]])
    with pytest.raises(ValueError, match="two or more coders"):
        percent_agreement([[1], [2]])
    with_nan = [[1, 1], [2, float("nan")], [2, 2], [1, 2]]
    with_none = [[1, 1], [2, None], [2, 2], [1, 2]]
    assert cohen_kappa(with_nan) == cohen_kappa(with_none) == cohen_kappa([[1, 1], [2, 2], [1, 2]])


# --------------------------------------------------------------------------------------------
# Hand-worked 2×2 cases and edge cases


def _from_table(table: list[list[int]]) -> list[tuple[str, str]]:
    """Two coders' labels from a 2×2 contingency table (rows: coder A, columns: coder B)."""
    labels = ("yes", "no")
    return [(labels[i], labels[j]) for i in range(2) for j in range(2) for _ in range(table[i][j])]


def test_two_by_two_by_hand() -> None:
    # [[20, 5], [10, 15]], N = 50: Po = .7; A's marginals (.5, .5), B's (.6, .4): Pe = .5,
    # κ = .2/.5 = .4. κBP (k = 2) = (.7 − .5)/.5 = .4, Ir = √.4. Pooled (.55, .45): Pe = .505,
    # π = .195/.495. α: n = 100, Σn_c² = 5050, 15 disagreeing units → 30 pairs,
    # α = 1 − 99·30/4950 = .4.
    matrix = _from_table([[20, 5], [10, 15]])
    assert percent_agreement(matrix) == pytest.approx(0.7, abs=TOL)
    assert cohen_kappa(matrix) == pytest.approx(0.4, abs=TOL)
    assert brennan_prediger(matrix, 2) == pytest.approx(0.4, abs=TOL)
    assert perreault_leigh(matrix, 2) == pytest.approx(math.sqrt(0.4), abs=TOL)
    assert fleiss_kappa(matrix) == pytest.approx(0.195 / 0.495, abs=TOL)
    assert krippendorff_alpha_nominal(matrix) == pytest.approx(0.4, abs=TOL)
    codes = np.array([[0 if a == "yes" else 1, 0 if b == "yes" else 1] for a, b in matrix])
    assert_matches_references(codes, 2)


def test_po_of_several_coders_is_the_mean_pairwise_agreement() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.integers(0, 3, size=(40, 3))
    pairs = [(0, 1), (0, 2), (1, 2)]
    mean_pairwise = np.mean([np.mean(matrix[:, i] == matrix[:, j]) for i, j in pairs])
    assert percent_agreement(matrix) == pytest.approx(mean_pairwise, abs=TOL)
    assert perreault_leigh(matrix, 3) == pytest.approx(math.sqrt(max((mean_pairwise - 1 / 3) * 1.5, 0)), abs=TOL)
    assert_matches_references(matrix, 3)


def test_agreement_below_chance_gives_ir_zero() -> None:
    # [[2, 8], [8, 2]]: Po = .2 < 1/k = .5, so κBP = −.6 and Ir = 0; Pe = .5, κ = −.6.
    matrix = _from_table([[2, 8], [8, 2]])
    assert brennan_prediger(matrix, 2) == pytest.approx(-0.6, abs=TOL)
    assert perreault_leigh(matrix, 2) == 0.0
    assert cohen_kappa(matrix) == pytest.approx(-0.6, abs=TOL)


def test_perfect_agreement() -> None:
    matrix = [[c, c, c] for c in "abcabca"]
    table = agreement_table(matrix, k=4, n_boot=0)
    assert table.cohen_kappa is None  # three coders
    for name, value in table.statistics().items():
        assert value == pytest.approx(1.0, abs=TOL), name
    assert cohen_kappa([[c, c] for c in "abab"]) == pytest.approx(1.0, abs=TOL)


def test_total_disagreement() -> None:
    # A = abab, B = baba: Po = 0, Pe = .5 → κ = −1; α = 1 − 7·8/(64 − 32) = −.75; κBP = −1, Ir = 0.
    matrix = [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]
    assert percent_agreement(matrix) == 0.0
    assert cohen_kappa(matrix) == pytest.approx(-1.0, abs=TOL)
    assert krippendorff_alpha_nominal(matrix) == pytest.approx(-0.75, abs=TOL)
    assert brennan_prediger(matrix, 2) == pytest.approx(-1.0, abs=TOL)
    assert perreault_leigh(matrix, 2) == 0.0
    assert_matches_references(np.array([[0, 1], [1, 0], [0, 1], [1, 0]]), 2)


def test_one_category_throughout_is_undefined_not_an_error() -> None:
    table = agreement_table([["a", "a"], ["a", "a"]], k=2, n_boot=0)
    assert table.percent_agreement == 1.0 and table.brennan_prediger == 1.0
    assert math.isnan(table.cohen_kappa or 0.0) and math.isnan(table.krippendorff_alpha)


def test_k_checks() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        brennan_prediger([[1, 1], [2, 2]], 1)
    with pytest.raises(ValueError, match="smaller than"):
        brennan_prediger([[1, 2], [3, 3]], 2)
    assert brennan_prediger([[1, 1], [2, 1]]) == pytest.approx(0.0, abs=TOL)  # k = 2 observed


# --------------------------------------------------------------------------------------------
# Bootstrap


def test_bootstrap_is_deterministic_and_contains_the_estimate() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 3, 80)
    b = np.where(rng.random(80) < 0.75, a, rng.integers(0, 3, 80))
    matrix = np.column_stack([a, b])
    first = agreement_table(matrix, k=3, n_boot=300, seed=11)
    again = agreement_table(matrix, k=3, n_boot=300, seed=11)
    other = agreement_table(matrix, k=3, n_boot=300, seed=12)
    assert first.intervals == again.intervals
    assert first.intervals != other.intervals
    for name, value in first.statistics().items():
        low, high = first.intervals[name]
        assert low <= value <= high, name
    # the weighted fast path draws the same resamples as recomputing on each resampled matrix
    for name, function in [
        ("percent_agreement", percent_agreement),
        ("cohen_kappa", cohen_kappa),
        ("fleiss_kappa", fleiss_kappa),
        ("krippendorff_alpha", krippendorff_alpha_nominal),
        ("brennan_prediger", lambda m: brennan_prediger(m, 3)),
        ("perreault_leigh", lambda m: perreault_leigh(m, 3)),
    ]:
        low, high = bootstrap_ci(function, matrix, n_boot=300, seed=11)
        assert low == pytest.approx(first.intervals[name][0], abs=TOL), name
        assert high == pytest.approx(first.intervals[name][1], abs=TOL), name
    assert agreement_table(matrix, n_boot=0).intervals == {}


# --------------------------------------------------------------------------------------------
# Label-level reliability


def _row(item: str, **values: str) -> LabelRow:
    return LabelRow(item, {f: tuple(v for v in values.get(f, "").split(";") if v) for f in values})


def test_multi_valued_pooling_equals_an_explicit_presence_matrix() -> None:
    a = {
        "1": _row("1", coping="direct_complaint;exit"),
        "2": _row("2", coping=""),  # an empty multi-valued cell: every code absent
        "3": _row("3", coping="public_complaint"),
    }
    b = {
        "1": _row("1", coping="direct_complaint"),
        "2": _row("2", coping="exit"),
        "3": _row("3", coping="public_complaint"),
    }
    report = reliability_from_rows({"a": a, "b": b}, VCD, bootstrap=0)
    field = report.fields["coping"]
    assert list(report.fields) == ["coping"]
    codes = VCD.code_ids("coping")
    presence = np.array(
        [[[int(code in rows[item].values["coping"]) for rows in (a, b)] for code in codes] for item in "123"]
    ).reshape(-1, 2)
    assert presence.shape == (3 * len(codes), 2)
    assert field.overall.n_units == 3 * len(codes)
    assert field.overall.percent_agreement == pytest.approx(percent_agreement(presence), abs=TOL)
    assert field.overall.percent_agreement == pytest.approx(1 - 2 / 21, abs=TOL)
    assert field.overall.cohen_kappa == pytest.approx(cohen_kappa(presence), abs=TOL)
    assert field.overall.k == 2
    assert_matches_references(presence, 2)
    exit_code = field.codes["exit"]
    assert exit_code.percent_agreement == pytest.approx(1 / 3, abs=TOL)
    assert set(field.codes) == set(codes)


def test_reasons_roll_up_to_aggregate_dimensions() -> None:
    # theme level: R4.2 vs R4.4 disagree; aggregate level: both are R4, so they agree.
    a = {"1": _row("1", reasons="R4.2"), "2": _row("2", reasons="R1.1;R9.1"), "3": _row("3", reasons="")}
    b = {"1": _row("1", reasons="R4.4"), "2": _row("2", reasons="R1.2;R9.1"), "3": _row("3", reasons="R2.1")}
    report = reliability_from_rows({"a": a, "b": b}, VCD, bootstrap=0)
    reasons = report.fields["reasons"]
    assert reasons.level == "theme" and reasons.aggregate is not None
    aggregate = reasons.aggregate
    assert list(aggregate.codes) == [f"R{i}" for i in range(1, 10)]
    assert aggregate.codes["R4"].percent_agreement == 1.0
    assert aggregate.codes["R1"].percent_agreement == 1.0
    assert aggregate.codes["R2"].percent_agreement == pytest.approx(2 / 3, abs=TOL)
    assert reasons.codes["R4.2"].percent_agreement == pytest.approx(2 / 3, abs=TOL)
    # explicit aggregate presence matrix
    rolled = {
        coder: {
            item: {VCD.roll_up("reasons", c, "aggregate") for c in row.values["reasons"]} for item, row in rows.items()
        }
        for coder, rows in {"a": a, "b": b}.items()
    }
    presence = np.array(
        [[[int(code in rolled[c][item]) for c in "ab"] for code in aggregate.codes] for item in "123"]
    ).reshape(-1, 2)
    assert aggregate.overall.percent_agreement == pytest.approx(percent_agreement(presence), abs=TOL)
    assert aggregate.overall.percent_agreement == pytest.approx(1 - 1 / 27, abs=TOL)
    assert aggregate.overall.krippendorff_alpha == pytest.approx(krippendorff_alpha_nominal(presence), abs=TOL)
    # scored at the aggregate level: the top-level figures are the rolled-up ones, no nesting
    top = reliability_from_rows({"a": a, "b": b}, VCD, level="aggregate", bootstrap=0).fields["reasons"]
    assert top.aggregate is None and top.overall == aggregate.overall


def test_single_valued_missing_and_unmatched_items() -> None:
    a = {
        "1": _row("1", valence="mixed"),
        "2": _row("2", valence=""),
        "3": _row("3", valence="mixed"),
        "x": _row("x", valence="mixed"),
    }
    b = {
        "1": _row("1", valence="mixed"),
        "2": _row("2", valence="co_creation"),
        "3": _row("3", valence="co_creation"),
    }
    report = reliability_from_rows({"a": a, "b": b}, VCD, bootstrap=0)
    assert report.n == 3 and report.dropped == {"a": 1, "b": 0}
    valence = report.fields["valence"].overall
    assert valence.percent_agreement == 0.5  # item 2 is missing for coder a
    assert valence.k == 4 and valence.n_units == 3


def test_disagreements_for_adjudication(tmp_path: Path) -> None:
    a = {"1": _row("1", valence="mixed", coping="exit;revenge"), "2": _row("2", valence="", coping="")}
    b = {
        "1": _row("1", valence="mixed", coping="revenge;exit"),
        "2": _row("2", valence="mixed", coping="exit"),
    }
    found = disagreements({"a": a, "b": b}, VCD)
    assert [(d.item_id, d.field) for d in found] == [("2", "coping")]  # order-free sets; missing ≠ conflict
    assert found[0].values == {"a": (), "b": ("exit",)}
    out = tmp_path / "dis.csv"
    assert write_disagreements(out, found, ["a", "b"]) == 1
    assert list(csv.reader(out.open())) == [["item_id", "field", "a", "b"], ["2", "coping", "none", "exit"]]


# --------------------------------------------------------------------------------------------
# (c) Real data: the shared gold file against deterministically perturbed coders


def _perturbed(rows: list[dict[str, str]], seed: int, share: float = 0.15) -> list[dict[str, str]]:
    """A second coder: ~share of the cells changed (another category; one code toggled)."""
    rng = np.random.default_rng(seed)
    result = []
    for row in rows:
        new = dict(row)
        for field in GUIDE_FIELDS:
            if rng.random() >= share:
                continue
            codes = VCD.code_ids(field)
            if VCD.is_multi(field):
                current = [c for c in row[field].split(";") if c]
                code = codes[rng.integers(len(codes))]
                current = [c for c in current if c != code] if code in current else [*current, code]
                new[field] = ";".join(current)
            else:
                others = [c for c in codes if c != row[field]]
                new[field] = others[rng.integers(len(others))]
        result.append(new)
    return result


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def real_files(shared_data: Path, tmp_path: Path) -> list[Path]:
    with (shared_data / "dev_gold.csv").open(encoding="utf-8") as fh:
        gold = list(csv.DictReader(fh))
    return [
        _write(tmp_path / "gold.csv", gold),
        _write(tmp_path / "second.csv", _perturbed(gold, seed=15)),
        _write(tmp_path / "third.csv", _perturbed(gold, seed=16)),
    ]


def _matrices(rows_by_coder: dict[str, dict[str, LabelRow]], field: str, level: str | None = None):
    """Independently built integer matrices: single-valued categories, or item-major presence."""
    items = list(next(iter(rows_by_coder.values())))
    codes = list(dict.fromkeys(_roll(VCD.code_ids(field), field, level)))
    if not VCD.is_multi(field):
        index = {c: i for i, c in enumerate(codes)}
        matrix = [[index[rows[i].values[field][0]] for rows in rows_by_coder.values()] for i in items]
        return np.array(matrix), {}, len(codes)
    present = {
        (coder, item): set(_roll(rows[item].values[field], field, level))
        for coder, rows in rows_by_coder.items()
        for item in items
    }
    per_code = {
        code: np.array([[int(code in present[(c, i)]) for c in rows_by_coder] for i in items]) for code in codes
    }
    pooled = np.array([[int(code in present[(c, i)]) for c in rows_by_coder] for i in items for code in codes])
    return pooled, per_code, 2


def _roll(codes, field: str, level: str | None) -> list[str]:
    return [VCD.roll_up(field, c, level) or c if level else c for c in codes]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' variance of κ on one-sided tables
@pytest.mark.parametrize("n_coders", [2, 3])
def test_real_data_matches_the_reference_packages(real_files: list[Path], n_coders: int) -> None:
    rows_by_coder = {path.stem: read_label_csv(path, VCD) for path in real_files[:n_coders]}
    report = reliability_from_rows(rows_by_coder, VCD, bootstrap=0)
    assert report.n == 260 and list(report.fields) == list(GUIDE_FIELDS)
    views = [(name, result, None) for name, result in report.fields.items()]
    views.append(("reasons", report.fields["reasons"].aggregate, "aggregate"))
    for field, result, level in views:
        pooled, per_code, k = _matrices(rows_by_coder, field, level)
        assert result.overall.n_units == len(pooled)
        expected = reference(pooled, k)
        for name, value in expected.items():
            assert _close(getattr(result.overall, name), value), (field, level, name)
        assert _close(result.overall.percent_agreement, percent_agreement(pooled))
        assert _close(result.overall.perreault_leigh, math.sqrt(max(expected["brennan_prediger"], 0)))
        assert (result.overall.cohen_kappa is None) == (n_coders != 2)
        assert list(result.codes) == list(per_code)
        for code, matrix in per_code.items():
            got = result.codes[code]
            if len(np.unique(matrix)) < 2:  # a code nobody used: κ and α are undefined
                assert math.isnan(got.krippendorff_alpha) and got.percent_agreement == 1.0
                continue
            for name, value in reference(matrix, 2).items():
                assert _close(getattr(got, name), value), (field, level, code, name)
    if n_coders == 2:  # the figures the report quotes
        valence = report.fields["valence"].overall
        assert round(valence.cohen_kappa or 0, 3) == 0.776


# --------------------------------------------------------------------------------------------
# The CLI


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("agree")(agree)
    app.command("consensus")(consensus)
    return app


def _expected_keys(n_coders: int) -> set[str]:
    return {s for s in STATISTICS if s != "cohen_kappa" or n_coders == 2}


@pytest.mark.parametrize("n_coders", [2, 3])
def test_cli_json_shape(real_files: list[Path], n_coders: int) -> None:
    files = [str(p) for p in real_files[:n_coders]]
    result = CliRunner().invoke(_app(), ["agree", *files, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"n", "fields"} and data["n"] == 260
    assert list(data["fields"]) == list(GUIDE_FIELDS)
    stats = _expected_keys(n_coders)
    for field, value in data["fields"].items():
        if not VCD.is_multi(field):
            assert set(value) == stats, field
            continue
        extra = {"codes", "aggregate"} if field == "reasons" else {"codes"}
        assert set(value) == stats | extra, field
        assert list(value["codes"]) == VCD.code_ids(field)
        assert all(set(code) == stats for code in value["codes"].values())
    aggregate = data["fields"]["reasons"]["aggregate"]
    assert set(aggregate) == stats | {"codes"}
    assert list(aggregate["codes"]) == [f"R{i}" for i in range(1, 10)]
    assert all(set(code) == stats for code in aggregate["codes"].values())
    # the numbers are the API's
    rows = {p.stem: read_label_csv(p, VCD) for p in real_files[:n_coders]}
    api = reliability_from_rows(rows, VCD, bootstrap=0)
    assert data == api.to_dict()


def test_cli_table_disagreements_and_errors(real_files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "dis.csv"
    args = ["agree", str(real_files[0]), str(real_files[1]), "--bootstrap", "50", "--disagreements", str(out)]
    result = CliRunner().invoke(_app(), [*args, "--codes"])
    assert result.exit_code == 0, result.output
    assert "valence" in result.stdout and "Kripp" in result.stdout and "R4.2" in result.stdout
    assert "50 resamples" in result.stdout
    lines = list(csv.reader(out.open()))
    assert lines[0] == ["item_id", "field", "gold", "second"] and len(lines) > 100
    one = CliRunner().invoke(_app(), ["agree", str(real_files[0])])
    assert one.exit_code == 2 and "two or more" in one.output
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,valence\na,mixed\nb,sideways\n", encoding="utf-8")
    broken = CliRunner().invoke(_app(), ["agree", str(real_files[0]), str(bad)])
    assert broken.exit_code == 1 and "bad.csv:3" in broken.output and "valence" in broken.output


def test_read_label_csv_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("item_id,valence,coping\na,mixed,exit\nb,mixed,exit;flee\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_label_csv(path, VCD)
    assert (caught.value.line, caught.value.field) == (3, "coping") and "flee" in str(caught.value)
    path.write_text("item_id,valence\na,mixed\na,mixed\n", encoding="utf-8")
    with pytest.raises(InputError, match="labelled twice"):
        read_label_csv(path, VCD)
    path.write_text("item_id,valnce\na,mixed\n", encoding="utf-8")
    with pytest.raises(InputError, match="valnce"):
        read_label_csv(path, VCD)


# --------------------------------------------------------------------------------------------
# The store: consensus coder and store-backed comparison


@pytest.fixture
def project_store(sqlite_url: str):
    store = Store.open(sqlite_url, create=True)
    project = store.create_project("study")
    store.add_codebook(project, VCD)
    with store.connection() as connection:
        incidents = [Incident(external_id=f"i{k}", text=f"incident {k}") for k in range(4)]
        store.insert_incidents(connection, project, incidents, None)
    yield store, project
    store.close()


def test_record_consensus_writes_and_replaces_codings(project_store, sqlite_url: str) -> None:
    store, project = project_store
    decisions = {
        "i0": _row("i0", valence="mixed", reasons="R4.2;R9.1", coping=""),
        "i1": _row("i1", valence="co_creation", positive_factors="helpful_employee"),
    }
    report = record_consensus(store, project, "vcd", decisions)
    assert (report.coder, report.incidents, report.codings, report.replaced) == ("consensus", 2, 5, 0)
    pk, _ = store.codebook(project, "vcd")
    stored = rows_from_store(store, project, pk, ["consensus"], VCD.dimension_ids)["consensus"]
    assert stored["i0"].values["reasons"] == ("R4.2", "R9.1")
    assert stored["i1"].values["positive_factors"] == ("helpful_employee",)
    assert {c.name: c.kind for c in store.coders(project)} == {"consensus": "human"}
    # revising a decision replaces that incident's consensus codings
    again = record_consensus(store, project, VCD, [_row("i0", valence="co_destruction")])
    assert (again.codings, again.replaced) == (1, 3)
    stored = rows_from_store(store, project, pk, ["consensus"], ["valence"])["consensus"]
    assert stored["i0"].values["valence"] == ("co_destruction",) and "i1" in stored
    with pytest.raises(StoreError, match="no incident 'nope'"):
        record_consensus(store, project, "vcd", [_row("nope", valence="mixed")])
    with pytest.raises(CovalueError, match="more than one decision for 'i2'"):
        record_consensus(store, project, "vcd", [_row("i2", valence="mixed"), _row("i2", valence="mixed")])
    with pytest.raises(CovalueError, match="takes one value"):
        record_consensus(store, project, "vcd", [LabelRow("i2", {"valence": ("mixed", "co_creation")})])
    assert "i2" not in rows_from_store(store, project, pk, ["consensus"])["consensus"]


def test_cli_consensus_and_store_mode_agree(project_store, sqlite_url: str, tmp_path: Path) -> None:
    for coder, valences in {
        "ann": ["mixed", "mixed", "co_creation"],
        "bob": ["mixed", "no_creation", "co_creation"],
    }.items():
        rows = [{"item_id": f"i{k}", "valence": v, "coping": "exit"} for k, v in enumerate(valences)]
        path = tmp_path / f"{coder}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["item_id", "valence", "coping"])
            writer.writeheader()
            writer.writerows(rows)
        result = CliRunner().invoke(_app(), ["consensus", str(path), "--coder", coder, "--db", sqlite_url])
        assert result.exit_code == 0, result.output
        assert "Recorded 6 codings of 3 incidents" in result.stdout
    result = CliRunner().invoke(_app(), ["agree", "--coder", "ann", "--coder", "bob", "--db", sqlite_url, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n"] == 3 and data["fields"]["valence"]["percent_agreement"] == pytest.approx(2 / 3)
    assert data["fields"]["coping"]["codes"]["exit"]["percent_agreement"] == 1.0
    files = {p.stem: read_label_csv(p, VCD) for p in (tmp_path / "ann.csv", tmp_path / "bob.csv")}
    api = reliability_from_rows(files, VCD, bootstrap=0, fields=["valence", "coping"]).to_dict()
    assert {f: data["fields"][f] for f in ("valence", "coping")} == api["fields"]
    unknown = CliRunner().invoke(_app(), ["agree", "--coder", "ann", "--coder", "zed", "--db", sqlite_url])
    assert unknown.exit_code == 1 and "no coder 'zed'" in unknown.output


# --------------------------------------------------------------------------------------------
# Span level (secondary view)


def _span(code: str, start: int, end: int, incident: str = "i1", dimension: str = "reasons") -> Coding:
    return Coding(incident_id=incident, dimension=dimension, code_id=code, coder="x", span=Span(start, end))


def test_span_agreement_by_overlap() -> None:
    a = [
        _span("R4.2", 0, 10),
        _span("R4.2", 20, 30),
        _span("R1.1", 0, 10),
        _span("R9.1", 0, 10, incident="i2"),
        Coding(incident_id="i1", dimension="valence", code_id="mixed", coder="x"),  # not a span: ignored
    ]
    b = [
        _span("R4.2", 2, 10),  # Jaccard 8/10 with A's [0, 10)
        _span("R4.2", 0, 9),  # also overlaps A's [0, 10) but A's span is taken: one-to-one
        _span("R4.2", 40, 50),
        _span("R1.1", 5, 15),  # Jaccard 5/15 < .5: no match
        _span("R9.1", 0, 5, incident="i2"),  # Jaccard exactly .5: a match
    ]
    result = span_agreement(a, b, min_overlap=0.5)
    assert (result.total.matched, result.total.only_a, result.total.only_b) == (2, 2, 3)
    assert result.total.agreement == pytest.approx(4 / 9)  # 2M / (N_A + N_B)
    assert result.total.recall == pytest.approx(2 / 4) and result.total.precision == pytest.approx(2 / 5)
    r42 = result.codes[("reasons", "R4.2")]
    assert (r42.matched, r42.only_a, r42.only_b) == (1, 1, 2)
    assert result.mean_jaccard == pytest.approx((0.9 + 0.5) / 2)  # B's [0, 9) wins: Jaccard .9
    assert span_agreement(a, b, min_overlap=0.3).total.matched == 3
    with pytest.raises(ValueError, match="min_overlap"):
        span_agreement(a, b, min_overlap=0)
