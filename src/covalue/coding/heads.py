"""Linear heads, one per codebook dimension, with calibrated probabilities.

Single-valued dimensions get a multinomial logistic regression; multi-valued ones get one
binary logistic regression per code. Class weights are balanced because rare codes matter to
researchers as much as common ones. Balancing distorts probabilities, so every head is
calibrated on out-of-fold scores from an internal cross-validation (temperature scaling for
single-valued heads, Platt scaling per code for multi-valued ones), and multi-valued heads get
a decision threshold chosen on the same out-of-fold probabilities to maximise micro-F1.

Heads are stored as arrays (coefficients, intercepts, calibration, thresholds), so predicting
needs only numpy and a saved model does not depend on the scikit-learn version.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

MIN_POSITIVES = 2
THRESHOLDS = np.round(np.arange(0.20, 0.81, 0.05), 2)


@dataclass
class Head:
    """Decision function ``X @ coef.T + intercept`` plus calibration and thresholds."""

    dimension: str
    multi: bool
    classes: list[str]
    coef: np.ndarray  # (k, d)
    intercept: np.ndarray  # (k,)
    scale: np.ndarray  # (k,) multi: Platt slope; single: [1/temperature]
    shift: np.ndarray  # (k,) multi: Platt intercept; single: unused zeros
    threshold: float = 0.5

    def scores(self, features: sparse.csr_matrix | np.ndarray) -> np.ndarray:
        return np.asarray(features @ self.coef.T) + self.intercept

    def proba(self, features: sparse.csr_matrix | np.ndarray) -> np.ndarray:
        return self.proba_from_scores(self.scores(features))

    def proba_from_scores(self, scores: np.ndarray) -> np.ndarray:
        if self.multi:
            return _sigmoid(scores * self.scale + self.shift)
        return _softmax(scores * self.scale[0])


def fit_head(
    dimension: str,
    multi: bool,
    classes: Sequence[str],
    features: sparse.csr_matrix,
    targets: np.ndarray,
    *,
    C: float,
    seed: int,
    calibration_folds: int = 3,
) -> Head:
    """Fit one head. ``targets`` is (n,) class indices (single) or (n, k) 0/1 (multi).

    Fitting runs with one BLAS thread on float64 input: the solvers make many small calls, and
    with BLAS threads competing for two cores (or a float32 copy per call) training was 30 times
    slower on the machines covalue targets.
    """
    features = sparse.csr_matrix(features, dtype=np.float64)
    with threadpool_limits(1):
        if multi:
            return _fit_multi(dimension, list(classes), features, targets, C, seed, calibration_folds)
        return _fit_single(dimension, list(classes), features, targets, C, seed, calibration_folds)


def _logistic(C: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=C, class_weight="balanced", max_iter=3000, random_state=seed)


def _fit_quiet(model: LogisticRegression, features, target) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(features, target)


def _fit_single(
    dimension: str, classes: list[str], features, target: np.ndarray, C: float, seed: int, folds: int
) -> Head:
    present = np.unique(target)
    if len(present) == 1:  # one class only: a constant head
        coef = np.zeros((len(classes), features.shape[1]), np.float32)
        intercept = np.full(len(classes), -10.0, np.float32)
        intercept[present[0]] = 10.0
        return Head(dimension, False, classes, coef, intercept, np.ones(1, np.float32), np.zeros(len(classes)))
    model = _fit_quiet(_logistic(C, seed), features, target)
    coef, intercept = _expand(model, len(classes), features.shape[1])
    out_of_fold = _out_of_fold_scores(features, target, len(classes), C, seed, folds, multi=False)
    inverse_temperature = _temperature(out_of_fold, target) if out_of_fold is not None else 1.0
    return Head(
        dimension,
        False,
        classes,
        coef,
        intercept,
        np.array([inverse_temperature], np.float32),
        np.zeros(len(classes), np.float32),
    )


def _fit_multi(
    dimension: str, classes: list[str], features, targets: np.ndarray, C: float, seed: int, folds: int
) -> Head:
    k, d = len(classes), features.shape[1]
    coef = np.zeros((k, d), np.float32)
    intercept = np.full(k, -10.0, np.float32)
    scale = np.ones(k, np.float32)
    shift = np.zeros(k, np.float32)
    oof = np.full(targets.shape, -10.0)
    for j in range(k):
        y = targets[:, j]
        if y.sum() < MIN_POSITIVES or y.sum() == len(y):
            continue  # too rare (or universal) to learn: never predicted
        model = _fit_quiet(_logistic(C, seed), features, y)
        coef[j] = model.coef_[0]
        intercept[j] = model.intercept_[0]
        scores = _out_of_fold_scores(features, y, 2, C, seed, folds, multi=True)
        if scores is not None:
            oof[:, j] = scores
            scale[j], shift[j] = _platt(scores, y)
    probabilities = _sigmoid(oof * scale + shift)
    threshold = _best_threshold(probabilities, targets)
    return Head(dimension, True, classes, coef, intercept, scale, shift, threshold)


def _expand(model: LogisticRegression, k: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients for every class of the dimension, also those absent from training."""
    coef = np.zeros((k, d), np.float32)
    intercept = np.full(k, -30.0, np.float32)
    learned = model.classes_.astype(int)
    if len(learned) == 2:  # binary LogisticRegression stores one row for the positive class
        coef[learned[1]] = model.coef_[0] / 2
        coef[learned[0]] = -model.coef_[0] / 2
        intercept[learned[1]] = model.intercept_[0] / 2
        intercept[learned[0]] = -model.intercept_[0] / 2
    else:
        coef[learned] = model.coef_
        intercept[learned] = model.intercept_
    return coef, intercept


def _out_of_fold_scores(features, target, k: int, C: float, seed: int, folds: int, *, multi: bool):
    """Decision scores of each training row from a model that did not see it."""
    n = features.shape[0]
    if folds < 2 or n < folds * 2:
        return None
    scores = np.zeros(n) if multi else np.zeros((n, k))
    splitter = KFold(folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.arange(n)):
        if len(np.unique(target[train])) < 2:
            return None
        model = _fit_quiet(_logistic(C, seed), features[train], target[train])
        if multi:
            scores[test] = model.decision_function(features[test])
        else:
            coef, intercept = _expand(model, k, features.shape[1])
            scores[test] = np.asarray(features[test] @ coef.T) + intercept
    return scores


def _temperature(scores: np.ndarray, target: np.ndarray) -> float:
    """Inverse temperature minimising the out-of-fold negative log-likelihood."""

    def loss(beta: float) -> float:
        probabilities = _softmax(scores * beta)
        return -float(np.mean(np.log(probabilities[np.arange(len(target)), target] + 1e-12)))

    return float(minimize_scalar(loss, bounds=(0.05, 20.0), method="bounded").x)


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if y.min() == y.max():
        return 1.0, 0.0
    model = LogisticRegression(C=1e4, max_iter=1000).fit(scores.reshape(-1, 1), y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def _best_threshold(probabilities: np.ndarray, targets: np.ndarray) -> float:
    best, best_f1 = 0.5, -1.0
    for threshold in THRESHOLDS:
        predicted = probabilities >= threshold
        tp = np.logical_and(predicted, targets == 1).sum()
        denominator = predicted.sum() + (targets == 1).sum()
        f1 = 2 * tp / denominator if denominator else 0.0
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(threshold), f1
    return best


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -40, 40)))


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = values - values.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
