"""Inter-coder reliability: agreement statistics, label-level reports, adjudication, span view.

Critical-incident studies classify whole incidents, so reliability is computed on an
**incidents × coders matrix** of category labels (one category per incident per level), not on
characters (see ``shared/spec/reliability.md``). A multi-valued field is scored code by code as
present/absent decisions; its pooled figure stacks every code-by-incident decision.

Every statistic is a ratio of sums over units. The module therefore reduces a matrix to a few
per-unit *features* once (category counts, agreeing pairs, ...) and evaluates each formula on
the feature sums. The point estimate sums with weight 1 per unit; a bootstrap resample is the
same sums with the multiplicity of each unit in the resample as its weight. This makes 1000
resamples of every field and code cost a few matrix products, and it gives exactly the numbers
that recomputing the statistic on each resampled matrix would (checked by the tests).

Missing values are ``None`` or NaN. Each statistic says which units it uses.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from covalue.errors import CovalueError, StoreError
from covalue.framework.codebook import Codebook
from covalue.model.incident import Coder, Coding
from covalue.model.labels import (
    ID_COLUMN,
    LabelRow,
    codings_to_rows,
    format_label_value,
    parse_label_value,
    row_to_codings,
)
from covalue.store.repository import ProjectInfo, Store

#: The statistics of an :class:`Agreement`, in report order (the JSON keys of ``covalue agree``).
STATISTICS = (
    "percent_agreement",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "brennan_prediger",
    "perreault_leigh",
)
#: Gioia levels a hierarchical field can be scored at.
LEVELS = ("theme", "aggregate", "first_order")
#: Categories of a present/absent decision (index 0 = absent, 1 = present).
PRESENCE_CATEGORIES = 2

_Sums = dict[str, np.ndarray]

# ============================================================================================
# Matrices


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def encode(matrix: ArrayLike) -> tuple[np.ndarray, list[Any]]:
    """Integer category codes (−1 = missing) and the categories, in order of first appearance.

    ``matrix`` is units × coders: one row per unit (incident), one column per coder, holding
    any hashable labels; ``None`` and NaN mark a unit a coder did not code.
    """
    data = np.asarray(matrix, dtype=object)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"expected a units × coders matrix with two or more coders, got shape {data.shape}")
    categories: dict[Any, int] = {}
    codes = np.full(data.shape, -1, dtype=np.int64)
    for (unit, coder), value in np.ndenumerate(data):
        if not _is_missing(value):
            codes[unit, coder] = categories.setdefault(value, len(categories))
    return codes, list(categories)


def _category_counts(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """n[u, c]: how many coders put unit u in category c."""
    return (codes[:, :, None] == np.arange(n_categories)).sum(axis=1).astype(float)


def _one_hot(column: np.ndarray, n_categories: int) -> np.ndarray:
    return (column[:, None] == np.arange(n_categories)).astype(float)


def _unit_features(codes: np.ndarray, n_categories: int) -> _Sums:
    """Per-unit quantities whose (weighted) sums every statistic is a function of.

    With m_u values in unit u and n_uc of them in category c:
    ``agreeing`` P_u = Σc n_uc(n_uc − 1) / (m_u(m_u − 1)), the share of agreeing coder pairs;
    ``disagreeing_pairs`` = Σc≠k n_uc n_uk / (m_u − 1), unit u's off-diagonal mass of
    Krippendorff's coincidence matrix. Units with fewer than two values are not pairable and
    contribute nothing; ``complete`` units (every coder coded) are what Fleiss' κ uses.
    """
    counts = _category_counts(codes, n_categories)
    m = counts.sum(axis=1)
    squares = (counts**2).sum(axis=1)
    pairable = m >= 2
    complete = m == codes.shape[1]
    agreeing = np.where(pairable, (squares - m) / np.where(pairable, m * (m - 1), 1), 0.0)
    features = {
        "pairable": pairable.astype(float),
        "agreeing": agreeing,
        "disagreeing_pairs": np.where(pairable, (m * m - squares) / np.where(pairable, m - 1, 1), 0.0),
        "counts_pairable": counts * pairable[:, None],
        "complete": complete.astype(float),
        "agreeing_complete": agreeing * complete,
        "counts_complete": counts * complete[:, None],
    }
    if codes.shape[1] == 2:  # Cohen's coder-specific marginals, over units both coded
        features["margins_a"] = _one_hot(codes[:, 0], n_categories) * pairable[:, None]
        features["margins_b"] = _one_hot(codes[:, 1], n_categories) * pairable[:, None]
    return features


def _weighted_sums(features: _Sums, weights: np.ndarray) -> _Sums:
    """Σu w_u·feature_u for weights of shape (units,) or (resamples, units)."""
    return {name: weights @ values for name, values in features.items()}


# ============================================================================================
# Formulas on feature sums (arrays broadcast over bootstrap resamples)


def _po(s: _Sums) -> np.ndarray:
    return s["agreeing"] / s["pairable"]


def _cohen(s: _Sums) -> np.ndarray:
    expected = (s["margins_a"] * s["margins_b"]).sum(axis=-1) / s["pairable"] ** 2
    return (_po(s) - expected) / (1 - expected)


def _fleiss(s: _Sums, n_coders: int) -> np.ndarray:
    observed = s["agreeing_complete"] / s["complete"]
    pooled = s["counts_complete"] / (n_coders * s["complete"][..., None])
    expected = (pooled**2).sum(axis=-1)
    return (observed - expected) / (1 - expected)


def _krippendorff(s: _Sums) -> np.ndarray:
    n_c = s["counts_pairable"]
    n = n_c.sum(axis=-1)
    return 1 - (n - 1) * s["disagreeing_pairs"] / (n**2 - (n_c**2).sum(axis=-1))


def _bp(po: np.ndarray, k: int) -> np.ndarray:
    return (po - 1 / k) / (1 - 1 / k)


def _ir(bp: np.ndarray) -> np.ndarray:
    # Po ≥ 1/k exactly when κBP ≥ 0; NaN stays NaN.
    return np.sqrt(np.maximum(bp, 0.0))


def _all_statistics(s: _Sums, n_coders: int, k: int) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        po = _po(s)
        bp = _bp(po, k)
        values = {
            "percent_agreement": po,
            "cohen_kappa": _cohen(s) if n_coders == 2 else None,
            "fleiss_kappa": _fleiss(s, n_coders),
            "krippendorff_alpha": _krippendorff(s),
            "brennan_prediger": bp,
            "perreault_leigh": _ir(bp),
        }
    return {name: value for name, value in values.items() if value is not None}


def _point_sums(matrix: ArrayLike) -> tuple[_Sums, np.ndarray, int]:
    codes, categories = encode(matrix)
    features = _unit_features(codes, len(categories))
    return _weighted_sums(features, np.ones(len(codes))), codes, len(categories)


def _resolve_k(k: int | None, n_observed: int) -> int:
    """k for the uniform chance term: given (the codebook's), else the categories observed."""
    if k is None:
        return max(n_observed, 2)
    if k < 2:
        raise ValueError(f"k must be at least 2 categories, got {k}")
    if k < n_observed:
        raise ValueError(f"k = {k} is smaller than the {n_observed} categories observed")
    return k


# ============================================================================================
# The statistics (public, one matrix each)


def percent_agreement(matrix: ArrayLike) -> float:
    """Po, the observed proportion of agreement.

    Two coders: the share of units (coded by both) on which they agree. m coders: the mean
    over units of the share of agreeing coder pairs, P_u = Σc n_uc(n_uc − 1) / (m_u(m_u − 1)),
    over units with at least two values. With complete data this equals the mean of the
    pairwise percent agreements and Fleiss' P̄; it is the Po used by κBP and Ir.
    """
    sums, _, _ = _point_sums(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_po(sums))


def cohen_kappa(matrix: ArrayLike) -> float:
    """Cohen's κ = (Po − Pe) / (1 − Pe), Pe = Σc pA,c · pB,c, for exactly two coders.

    Chance uses each coder's own marginals (unlike Scott/Fleiss), over units both coded.
    NaN when Pe = 1 (both coders used one and the same category throughout): κ is undefined.
    """
    sums, codes, _ = _point_sums(matrix)
    if codes.shape[1] != 2:
        raise ValueError(f"Cohen's kappa needs exactly two coders, got {codes.shape[1]}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_cohen(sums))


def fleiss_kappa(matrix: ArrayLike) -> float:
    """Fleiss' κ = (P̄ − Pe) / (1 − Pe), Pe = Σc p̄c², p̄c the pooled share of category c.

    **Complete units only**: units any coder left missing are dropped, because Fleiss' formula
    assumes the same number of ratings per unit (use Krippendorff's α with missing data). For
    two coders it is Scott's π.
    """
    sums, codes, _ = _point_sums(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_fleiss(sums, codes.shape[1]))


def krippendorff_alpha_nominal(matrix: ArrayLike) -> float:
    """Krippendorff's α for nominal data, any number of coders, missing values allowed.

    α = 1 − Do/De = 1 − (n − 1) · Σc≠k o_ck / Σc≠k n_c n_k, where the coincidence matrix
    o_ck = Σu (number of c–k value pairs in unit u) / (m_u − 1) counts ordered pairs of values
    from different coders, n_c = Σk o_ck and n = Σc n_c is the number of pairable values
    (units with a single value are dropped). NaN when only one category occurs.
    """
    sums, _, _ = _point_sums(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_krippendorff(sums))


def brennan_prediger(matrix: ArrayLike, k: int | None = None) -> float:
    """Brennan–Prediger κn = (Po − 1/k) / (1 − 1/k) (Randolph's free-marginal κ).

    Chance is uniform over the k categories of the *dimension*, so pass the codebook's
    category count (2 for present/absent); by default k is the number of categories observed,
    which is what ``statsmodels``' ``fleiss_kappa(method='randolph')`` assumes.
    """
    sums, _, n_categories = _point_sums(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_bp(_po(sums), _resolve_k(k, n_categories)))


def perreault_leigh(matrix: ArrayLike, k: int | None = None) -> float:
    """Perreault & Leigh's (1989) Ir = √[(Po − 1/k) · k/(k − 1)] when Po ≥ 1/k, else 0.

    Hence Ir = √κBP. For more than two coders Po is the mean pairwise agreement of
    :func:`percent_agreement` (Perreault & Leigh defined Ir for two judges). ``k`` as in
    :func:`brennan_prediger`.
    """
    return float(_ir(np.float64(brennan_prediger(matrix, k))))


# ============================================================================================
# Bootstrap


class Resamples:
    """``n_boot`` bootstrap resamples of ``n_units`` units with replacement, fixed by ``seed``.

    Drawn in chunks that bound memory. As (resamples × units) multiplicity weights they are
    kept after the first pass when small, because a report scores every field and code on the
    same resamples of its incidents (which also keeps the fields' intervals comparable).
    """

    #: Keep the weights when resamples × units is at most this (8 bytes each).
    CACHE_LIMIT = 20_000_000
    _CHUNK = 2_000_000

    def __init__(self, n_units: int, n_boot: int, seed: int) -> None:
        self.n_units = n_units
        self.n_boot = n_boot
        self.seed = seed
        self._cached: list[np.ndarray] | None = None

    def indices(self) -> Iterator[np.ndarray]:
        """Chunks of (resamples, n_units) unit indices."""
        rng = np.random.default_rng(self.seed)
        chunk = max(1, min(self.n_boot, self._CHUNK // max(self.n_units, 1)))
        done = 0
        while done < self.n_boot:
            size = min(chunk, self.n_boot - done)
            yield rng.integers(0, self.n_units, size=(size, self.n_units))
            done += size

    def weights(self) -> Iterator[np.ndarray]:
        """Chunks of (resamples, n_units) weights: how often each unit occurs in each resample."""
        if self._cached is not None:
            yield from self._cached
            return
        keep = self.n_boot * self.n_units <= self.CACHE_LIMIT
        chunks = []
        for indices in self.indices():
            weights = _multiplicities(indices, self.n_units)
            if keep:
                chunks.append(weights)
            yield weights
        if keep:
            self._cached = chunks


def _multiplicities(indices: np.ndarray, n_units: int) -> np.ndarray:
    offsets = indices + n_units * np.arange(len(indices))[:, None]
    counts = np.bincount(offsets.ravel(), minlength=len(indices) * n_units)
    return counts.reshape(len(indices), n_units).astype(float)


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval; resamples where the statistic is undefined (NaN) are left out."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return (math.nan, math.nan)
    tail = 50 * (1 - confidence)
    low, high = np.percentile(finite, [tail, 100 - tail])
    return (float(low), float(high))


def bootstrap_ci(
    stat: Callable[[np.ndarray], float],
    matrix: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` over ``n_boot`` resamples of the units (rows).

    Units, not single ratings, are resampled because the coders' labels of one incident are
    not independent. The same ``seed`` gives the same interval; :func:`agreement_table` draws
    the same resamples, so its intervals equal this function's for the same seed.
    """
    data = np.asarray(matrix, dtype=object)
    values = [stat(data[idx]) for chunk in Resamples(len(data), n_boot, seed).indices() for idx in chunk]
    return _percentile_interval(np.asarray(values, dtype=float), confidence)


def _bootstrap_intervals(
    features: _Sums, n_coders: int, k: int, resamples: Resamples, confidence: float, cluster: int
) -> dict[str, tuple[float, float]]:
    """Intervals of every statistic from weighted feature sums (no matrix is rebuilt).

    With ``cluster`` > 1, each run of ``cluster`` consecutive rows is one resampling unit.
    """
    clustered = {name: values.reshape(-1, cluster, *values.shape[1:]).sum(axis=1) for name, values in features.items()}
    n_clusters = len(clustered["pairable"])
    if n_clusters != resamples.n_units:
        raise ValueError(f"resamples are of {resamples.n_units} units, the data has {n_clusters}")
    collected: dict[str, list[np.ndarray]] = {}
    for weights in resamples.weights():
        sums = _weighted_sums(clustered, weights)
        for name, values in _all_statistics(sums, n_coders, k).items():
            collected.setdefault(name, []).append(values)
    return {name: _percentile_interval(np.concatenate(parts), confidence) for name, parts in collected.items()}


# ============================================================================================
# All statistics of one matrix


@dataclass(frozen=True)
class Agreement:
    """Every statistic for one matrix (one field, one code or a pooled set of decisions).

    ``intervals`` maps a statistic to its bootstrap (low, high); empty without bootstrap.
    ``cohen_kappa`` is None unless there are exactly two coders. NaN marks an undefined value
    (e.g. κ when every coder used one category throughout).
    """

    n_units: int
    n_coders: int
    k: int
    percent_agreement: float
    cohen_kappa: float | None
    fleiss_kappa: float
    krippendorff_alpha: float
    brennan_prediger: float
    perreault_leigh: float
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)

    def statistics(self) -> dict[str, float]:
        """The statistics in report order (``cohen_kappa`` only for two coders)."""
        values = {name: getattr(self, name) for name in STATISTICS}
        return {name: value for name, value in values.items() if value is not None}


def agreement_table(
    matrix: ArrayLike,
    *,
    k: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Agreement:
    """One row of the reliability table: every statistic of ``matrix`` with bootstrap intervals.

    ``k`` is the number of categories of the dimension for κBP and Ir (default: observed).
    ``n_boot = 0`` skips the bootstrap.
    """
    codes, categories = encode(matrix)
    resamples = Resamples(len(codes), n_boot, seed) if n_boot > 0 else None
    return _agreement_from_codes(
        codes, len(categories), _resolve_k(k, len(categories)), resamples=resamples, confidence=confidence
    )


def _agreement_from_codes(
    codes: np.ndarray,
    n_categories: int,
    k: int,
    *,
    resamples: Resamples | None,
    confidence: float = 0.95,
    cluster: int = 1,
) -> Agreement:
    """Agreement of integer-coded data; ``cluster`` consecutive rows are resampled together."""
    n_coders = codes.shape[1]
    features = _unit_features(codes, n_categories)
    values = _all_statistics(_weighted_sums(features, np.ones(len(codes))), n_coders, k)
    intervals: dict[str, tuple[float, float]] = {}
    if resamples is not None and len(codes) > 0:
        intervals = _bootstrap_intervals(features, n_coders, k, resamples, confidence, cluster)
    return Agreement(
        n_units=len(codes),
        n_coders=n_coders,
        k=k,
        percent_agreement=float(values["percent_agreement"]),
        cohen_kappa=float(values["cohen_kappa"]) if "cohen_kappa" in values else None,
        fleiss_kappa=float(values["fleiss_kappa"]),
        krippendorff_alpha=float(values["krippendorff_alpha"]),
        brennan_prediger=float(values["brennan_prediger"]),
        perreault_leigh=float(values["perreault_leigh"]),
        intervals=intervals,
    )


# ============================================================================================
# Annotation-guide labels (read with covalue.ingest.labels.read_label_csv)


def rows_from_store(
    store: Store,
    project: ProjectInfo,
    codebook_pk: int,
    coders: Sequence[str],
    dimensions: Iterable[str] | None = None,
) -> dict[str, dict[str, LabelRow]]:
    """Each coder's incident-level codings as label rows, in one pass over the store.

    An incident counts as coded by a coder when the coder gave it at least one incident-level
    code; its dimensions without a code then read as empty (all absent for multi-valued
    fields, missing for single-valued ones). ``dimensions`` defaults to every dimension any of
    the coders used.
    """
    known = {c.name for c in store.coders(project)}
    missing = [c for c in coders if c not in known]
    if missing:
        raise StoreError(
            f"project {project.name!r} has no coder {', '.join(map(repr, missing))} "
            f"(coders: {', '.join(sorted(known)) or 'none'})"
        )
    wanted = set(coders)
    collected: dict[str, list[Coding]] = {coder: [] for coder in coders}
    seen_dimensions: dict[str, None] = {}
    for _, codings in store.iter_codings_by_incident(project, codebook_pk=codebook_pk):
        for coding in codings:
            if coding.coder in wanted and coding.span is None:
                collected[coding.coder].append(coding)
                seen_dimensions.setdefault(coding.dimension)
    fields = list(dimensions) if dimensions is not None else list(seen_dimensions)
    return {
        coder: {row.item_id: row for row in codings_to_rows(codings, fields)} for coder, codings in collected.items()
    }


# ============================================================================================
# Label-level reliability


@dataclass(frozen=True)
class FieldReliability:
    """Agreement on one field at one Gioia level.

    Single-valued fields are scored on their categories. Multi-valued fields are scored on
    present/absent decisions: ``overall`` pools every code-by-incident decision, ``codes``
    holds each code on its own. ``aggregate`` is the same field rolled up to aggregate
    dimensions, when the codebook has them (the reasons R1..R9).
    """

    name: str
    multi: bool
    level: str | None
    overall: Agreement
    codes: dict[str, Agreement] = field(default_factory=dict)
    aggregate: FieldReliability | None = None

    def to_dict(self, *, intervals: bool = False) -> dict[str, Any]:
        """The ``covalue agree --json`` object of this field (NaN becomes null)."""
        result: dict[str, Any] = _agreement_dict(self.overall, intervals)
        if self.multi:
            result["codes"] = {code: _agreement_dict(a, intervals) for code, a in self.codes.items()}
        if self.aggregate is not None:
            result["aggregate"] = self.aggregate.to_dict(intervals=intervals)
        return result


@dataclass(frozen=True)
class ReliabilityReport:
    """Reliability of two or more coders over the items all of them coded.

    ``dropped`` counts, per coder, the items that coder labelled but not every other coder did.
    """

    coders: tuple[str, ...]
    n: int
    dropped: dict[str, int]
    fields: dict[str, FieldReliability]
    level: str
    n_boot: int
    seed: int

    def to_dict(self, *, intervals: bool = False) -> dict[str, Any]:
        """``{"n": …, "fields": {…}}``; ``intervals`` adds an ``"intervals"`` key per statistic set."""
        return {
            "n": self.n,
            "fields": {name: f.to_dict(intervals=intervals) for name, f in self.fields.items()},
        }


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _agreement_dict(agreement: Agreement, intervals: bool) -> dict[str, Any]:
    result: dict[str, Any] = {name: _json_number(v) for name, v in agreement.statistics().items()}
    if intervals:
        result["intervals"] = {
            name: [_json_number(low), _json_number(high)] for name, (low, high) in agreement.intervals.items()
        }
    return result


def matched_items(rows_by_coder: Mapping[str, Mapping[str, LabelRow]]) -> tuple[list[str], dict[str, int]]:
    """Items every coder labelled (first coder's order) and, per coder, how many were dropped."""
    if len(rows_by_coder) < 2:
        raise ValueError(f"reliability needs two or more coders, got {len(rows_by_coder)}")
    common = set.intersection(*(set(rows) for rows in rows_by_coder.values()))
    first = next(iter(rows_by_coder.values()))
    items = [item for item in first if item in common]
    dropped = {coder: len(rows) - len(common) for coder, rows in rows_by_coder.items()}
    return items, dropped


def _rolled(codebook: Codebook, dimension: str, codes: tuple[str, ...], level: str | None) -> tuple[str, ...]:
    """Codes rolled up to ``level`` (a code without an ancestor there stays itself), deduplicated."""
    if level is None:
        return codes
    rolled = (codebook.roll_up(dimension, code, level) or code for code in codes)
    return tuple(dict.fromkeys(rolled))


def _categories(codebook: Codebook, dimension: str, level: str | None) -> list[str]:
    """The categories a field has at ``level``: its codable codes rolled up, in codebook order."""
    return list(_rolled(codebook, dimension, tuple(codebook.code_ids(dimension)), level))


def _field_level(codebook: Codebook, dimension: str, level: str) -> str | None:
    """The level to score ``dimension`` at; None (as coded) when it has no such level."""
    return level if level in codebook.levels(dimension) else None


def _cells(
    rows_by_coder: Mapping[str, Mapping[str, LabelRow]],
    items: list[str],
    codebook: Codebook,
    dimension: str,
    level: str | None,
) -> list[list[tuple[str, ...] | None]]:
    """items × coders cells: the (rolled-up) codes, or None where the coder has no such column."""
    cells = []
    for item in items:
        row = []
        for rows in rows_by_coder.values():
            values = rows[item].values
            row.append(_rolled(codebook, dimension, values[dimension], level) if dimension in values else None)
        cells.append(row)
    return cells


def _single_codes(cells: list[list[tuple[str, ...] | None]], categories: list[str]) -> np.ndarray:
    """Category indices; an empty or absent value of a single-valued field is missing (−1)."""
    index = {code: i for i, code in enumerate(categories)}
    return np.array([[index[cell[0]] if cell else -1 for cell in row] for row in cells], dtype=np.int64)


def _presence(cells: list[list[tuple[str, ...] | None]], categories: list[str]) -> np.ndarray:
    """items × coders × codes: 1 present, 0 absent, −1 missing (the coder has no such column).

    An empty multi-valued cell is a real decision that every code is absent.
    """
    presence = np.zeros((len(cells), len(cells[0]) if cells else 0, len(categories)), dtype=np.int64)
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            if cell is None:
                presence[i, j, :] = -1
            else:
                presence[i, j, :] = [code in cell for code in categories]
    return presence


def pooled_presence_matrix(presence: np.ndarray) -> np.ndarray:
    """(items · codes) × coders decisions, item-major, so each item's decisions are adjacent."""
    n_items, n_coders, n_codes = presence.shape
    return presence.transpose(0, 2, 1).reshape(n_items * n_codes, n_coders)


def _field_reliability(
    rows_by_coder: Mapping[str, Mapping[str, LabelRow]],
    items: list[str],
    codebook: Codebook,
    dimension: str,
    level: str | None,
    resamples: Resamples | None,
) -> FieldReliability:
    categories = _categories(codebook, dimension, level)
    cells = _cells(rows_by_coder, items, codebook, dimension, level)
    boot = {"resamples": resamples}
    if not codebook.is_multi(dimension):
        overall = _agreement_from_codes(_single_codes(cells, categories), len(categories), len(categories), **boot)
        return FieldReliability(dimension, False, level, overall)
    presence = _presence(cells, categories)
    two = PRESENCE_CATEGORIES
    pooled = _agreement_from_codes(pooled_presence_matrix(presence), two, two, cluster=max(len(categories), 1), **boot)
    codes = {code: _agreement_from_codes(presence[:, :, j], two, two, **boot) for j, code in enumerate(categories)}
    return FieldReliability(dimension, True, level, pooled, codes)


def reliability_from_rows(
    rows_by_coder: Mapping[str, Mapping[str, LabelRow]],
    codebook: Codebook,
    *,
    level: str = "theme",
    bootstrap: int = 1000,
    seed: int = 0,
    fields: Iterable[str] | None = None,
) -> ReliabilityReport:
    """Incident-level reliability of two or more coders, per field, per code and per level.

    Items are matched by ``item_id`` (the intersection; ``dropped`` says how many each coder
    lost). A hierarchical field is scored at ``level`` ("theme": as coded for the vcd
    reasons; "aggregate": rolled up to R1..R9) and, below the aggregate level, also rolled up
    to its aggregate dimensions. κBP and Ir take k from the codebook (categories at the level;
    2 for present/absent decisions). Bootstrap intervals resample incidents, keeping all
    decisions about one incident together (``bootstrap = 0`` turns them off).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    items, dropped = matched_items(rows_by_coder)
    if not items:
        raise CovalueError("the coders have no item_id in common; nothing to compare")
    resamples = Resamples(len(items), bootstrap, seed) if bootstrap > 0 else None
    report_fields: dict[str, FieldReliability] = {}
    for dimension in _scored_fields(rows_by_coder, codebook, fields):
        own = _field_level(codebook, dimension, level)
        result = _field_reliability(rows_by_coder, items, codebook, dimension, own, resamples)
        if "aggregate" in codebook.levels(dimension) and own != "aggregate":
            rolled = _field_reliability(rows_by_coder, items, codebook, dimension, "aggregate", resamples)
            result = replace(result, aggregate=rolled)
        report_fields[dimension] = result
    return ReliabilityReport(
        coders=tuple(rows_by_coder),
        n=len(items),
        dropped=dropped,
        fields=report_fields,
        level=level,
        n_boot=bootstrap,
        seed=seed,
    )


def _scored_fields(
    rows_by_coder: Mapping[str, Mapping[str, LabelRow]], codebook: Codebook, fields: Iterable[str] | None
) -> list[str]:
    """Codebook dimensions (in codebook order) that at least two coders have labels for."""
    if fields is not None:
        wanted = list(fields)
        for name in wanted:
            codebook.dimension(name)  # raises for an unknown field
        return wanted
    having: dict[str, int] = {}
    for rows in rows_by_coder.values():
        present = {dimension for row in rows.values() for dimension in row.values}
        for dimension in present:
            having[dimension] = having.get(dimension, 0) + 1
    return [d for d in codebook.dimension_ids if having.get(d, 0) >= 2]


# ============================================================================================
# Adjudication


@dataclass(frozen=True)
class Disagreement:
    """An item and field on which coders gave different values (None: the coder has no value)."""

    item_id: str
    field: str
    values: dict[str, tuple[str, ...] | None]


def disagreements(
    rows_by_coder: Mapping[str, Mapping[str, LabelRow]],
    codebook: Codebook,
    fields: Iterable[str] | None = None,
) -> list[Disagreement]:
    """Every (item, field) of the matched items where coders differ, for adjudication.

    Codes are compared as coded (theme level), multi-valued fields as sets. A coder without a
    value (a missing single-valued cell or column) does not create a disagreement by itself.
    """
    items, _ = matched_items(rows_by_coder)
    scored = _scored_fields(rows_by_coder, codebook, fields)
    found = []
    for item in items:
        for dimension in scored:
            values = {coder: _value(rows[item], dimension, codebook) for coder, rows in rows_by_coder.items()}
            given = {frozenset(v) for v in values.values() if v is not None}
            if len(given) > 1:
                found.append(Disagreement(item, dimension, values))
    return found


def _value(row: LabelRow, dimension: str, codebook: Codebook) -> tuple[str, ...] | None:
    codes = row.values.get(dimension)
    if codes is None or (not codes and not codebook.is_multi(dimension)):
        return None
    return codes


def write_disagreements(path: str | Path, found: Iterable[Disagreement], coders: Sequence[str]) -> int:
    """Write disagreements as CSV (item_id, field, one column per coder); returns the row count.

    Values use the annotation-guide notation; an empty multi-valued decision is written
    ``none`` and a coder without a value as an empty cell.
    """
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([ID_COLUMN, "field", *coders])
        for item in found:
            cells = [_cell(item.values.get(coder)) for coder in coders]
            writer.writerow([item.item_id, item.field, *cells])
            count += 1
    return count


def _cell(codes: tuple[str, ...] | None) -> str:
    if codes is None:
        return ""
    return format_label_value(codes) or "none"


@dataclass(frozen=True)
class ConsensusReport:
    coder: str
    codebook: str
    incidents: int
    codings: int
    replaced: int


def record_consensus(
    store: Store,
    project: ProjectInfo,
    codebook_key: str | Codebook,
    decisions: Mapping[str, LabelRow] | Iterable[LabelRow],
    coder_name: str = "consensus",
) -> ConsensusReport:
    """Store adjudicated decisions as the codings of a (human) consensus coder, in one transaction.

    ``codebook_key`` is a codebook attached to the project (``id`` or ``id@version``) or a
    :class:`Codebook`, attached if needed. A decision row is the complete adjudicated coding of
    its incident: it replaces the consensus coder's earlier incident-level codings of that
    incident, so adjudication can be revised. Every value is checked against the codebook and
    every item against the project before anything is written.
    """
    rows = list(decisions.values()) if isinstance(decisions, Mapping) else list(decisions)
    codebook = codebook_key if isinstance(codebook_key, Codebook) else store.codebook(project, codebook_key)[1]
    rows = [_checked_decision(row, codebook) for row in rows]
    repeated = sorted(item for item, n in Counter(row.item_id for row in rows).items() if n > 1)
    if repeated:
        raise CovalueError(f"more than one decision for {', '.join(map(repr, repeated[:5]))}")
    coder = Coder(name=coder_name, kind="human")
    with store.connection() as connection:
        codebook_pk = store.add_codebook(project, codebook, connection)
        coder_id = store.ensure_coder(project, coder, connection)
        pks = store.incident_pks(connection, project, [row.item_id for row in rows])
        unknown = [row.item_id for row in rows if row.item_id not in pks]
        if unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (" …" if len(unknown) > 5 else "")
            raise StoreError(f"project {project.name!r} has no incident {shown}; nothing was recorded")
        replaced = store.delete_codings(connection, coder_id, codebook_pk, [pks[r.item_id] for r in rows])
        codings = [coding for row in rows for coding in row_to_codings(row, coder_name)]
        store.insert_codings(connection, project, codebook_pk, codings, {coder_name: coder_id}, pks)
    return ConsensusReport(coder_name, codebook.key, len(rows), len(codings), replaced)


def _checked_decision(row: LabelRow, codebook: Codebook) -> LabelRow:
    values = {}
    for dimension, codes in row.values.items():
        try:
            values[dimension] = parse_label_value(codebook, dimension, format_label_value(codes))
        except (KeyError, ValueError) as exc:
            raise CovalueError(f"decision for {row.item_id!r}, field {dimension!r}: {exc}") from None
    return LabelRow(item_id=row.item_id, values=values, note=row.note)


# ============================================================================================
# Span-level agreement (secondary view)


@dataclass(frozen=True)
class SpanCounts:
    """Matched and unmatched spans of coder A (the reference) and coder B."""

    matched: int = 0
    only_a: int = 0
    only_b: int = 0

    @property
    def agreement(self) -> float:
        """2M / (N_A + N_B): the share of spans that found a partner (Dice, or F1 of B vs A)."""
        total = 2 * self.matched + self.only_a + self.only_b
        return 2 * self.matched / total if total else math.nan

    @property
    def recall(self) -> float:
        """M / N_A: the share of A's spans that B reproduced."""
        total = self.matched + self.only_a
        return self.matched / total if total else math.nan

    @property
    def precision(self) -> float:
        """M / N_B: the share of B's spans that A also marked."""
        total = self.matched + self.only_b
        return self.matched / total if total else math.nan

    def __add__(self, other: SpanCounts) -> SpanCounts:
        return SpanCounts(self.matched + other.matched, self.only_a + other.only_a, self.only_b + other.only_b)


@dataclass(frozen=True)
class SpanAgreement:
    """Span agreement overall and per (dimension, code), with the mean Jaccard of matched pairs."""

    min_overlap: float
    total: SpanCounts
    codes: dict[tuple[str, str], SpanCounts]
    mean_jaccard: float


def _jaccard(a: Coding, b: Coding) -> float:
    """|A ∩ B| / |A ∪ B| of the half-open code-point ranges."""
    assert a.span is not None and b.span is not None
    inter = min(a.span.end, b.span.end) - max(a.span.start, b.span.start)
    if inter <= 0:
        return 0.0
    union = max(a.span.end, b.span.end) - min(a.span.start, b.span.start)
    return inter / union


def _group_spans(codings: Iterable[Coding]) -> dict[tuple[str, str, str], list[Coding]]:
    groups: dict[tuple[str, str, str], list[Coding]] = {}
    for coding in codings:
        if coding.span is not None:
            groups.setdefault((coding.incident_id, coding.dimension, coding.code_id), []).append(coding)
    return groups


def _match_group(spans_a: list[Coding], spans_b: list[Coding], min_overlap: float) -> list[float]:
    """Greedy one-to-one matching, best overlap first; returns the Jaccard of each matched pair."""
    candidates = sorted(
        (
            (-_jaccard(a, b), a.span.start, b.span.start, i, j)  # type: ignore[union-attr]
            for i, a in enumerate(spans_a)
            for j, b in enumerate(spans_b)
        ),
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    matched = []
    for negative, _, _, i, j in candidates:
        if -negative < min_overlap:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            matched.append(-negative)
    return matched


def span_agreement(
    codings_a: Iterable[Coding], codings_b: Iterable[Coding], *, min_overlap: float = 0.5
) -> SpanAgreement:
    """Segment-level agreement of two coders' span codings (incident-level codings are ignored).

    Rule: two spans match when they are in the same incident, carry the same dimension and
    code, and their Jaccard overlap |A ∩ B| / |A ∪ B| (in code points) is at least
    ``min_overlap``. Matching is one-to-one and greedy, highest overlap first (ties by
    position), so one long span cannot absorb several short ones. Unmatched spans count
    against agreement; A is the reference for recall and precision.
    """
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    groups_a, groups_b = _group_spans(codings_a), _group_spans(codings_b)
    per_code: dict[tuple[str, str], SpanCounts] = {}
    jaccards: list[float] = []
    for key in sorted(set(groups_a) | set(groups_b)):
        spans_a, spans_b = groups_a.get(key, []), groups_b.get(key, [])
        matched = _match_group(spans_a, spans_b, min_overlap)
        jaccards.extend(matched)
        counts = SpanCounts(len(matched), len(spans_a) - len(matched), len(spans_b) - len(matched))
        code = (key[1], key[2])
        per_code[code] = per_code.get(code, SpanCounts()) + counts
    total = sum(per_code.values(), SpanCounts())
    mean = float(np.mean(jaccards)) if jaccards else math.nan
    return SpanAgreement(min_overlap, total, per_code, mean)


def training_overlap_warning(trained: Mapping[str, frozenset[str]], compared: Iterable[str]) -> str | None:
    """A caution when a machine coder is compared on incidents its model was trained on, else None.

    Agreement there measures how well the model fits its own training labels, not its accuracy on new
    incidents; a reader of the agreement table must be told.
    """
    items = set(compared)
    overlap = {name: len(ids & items) for name, ids in trained.items() if ids & items}
    if not overlap:
        return None
    parts = ", ".join(
        f"{count:,} of the {len(items):,} compared incidents were in the training data of {name!r}"
        for name, count in overlap.items()
    )
    return (
        f"Caution: {parts}. On those incidents agreement shows how well the model fits its own training labels, "
        "not how accurately it codes new incidents; judge accuracy on incidents it was not trained on "
        "(covalue evaluate, or the cross-validated figures in docs/coder.md)."
    )
