"""Automatic coding: coders behind one interface (fit / predict / predict_proba)."""

from covalue.coding.base import CodeDecision, IncidentCoder, IncidentCoding
from covalue.coding.features import FeatureSpace
from covalue.coding.llm import LLMCoder
from covalue.coding.metrics import evaluate
from covalue.coding.supervised import SupervisedCoder
from covalue.coding.training import load_model
from covalue.coding.zeroshot import KeywordCoder, SimilarityCoder

__all__ = [
    "CodeDecision",
    "FeatureSpace",
    "IncidentCoder",
    "IncidentCoding",
    "KeywordCoder",
    "LLMCoder",
    "SimilarityCoder",
    "SupervisedCoder",
    "evaluate",
    "load_model",
]
