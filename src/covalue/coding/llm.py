"""Optional LLM coder for any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp, hosted).

The prompt is built from the codebook (every dimension, its codes with definitions, whether it
takes one or several codes, and its ``required_when`` rules). The answer must be one JSON object
whose values are codebook ids; it is validated, and an invalid answer is sent back with the
problems listed, up to ``retries`` times. Incidents that still fail are reported in
``failures`` and get no codings. Nothing here is required by the rest of covalue, and no
request is made unless a user configures an endpoint.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from covalue.coding.base import CodeDecision, IncidentCoding, default_ids
from covalue.errors import CovalueError
from covalue.framework.codebook import Codebook
from covalue.framework.loader import load_codebook
from covalue.model.incident import Span

API_KEY_VARIABLE = "COVALUE_LLM_API_KEY"


@dataclass(frozen=True)
class LLMFailure:
    incident_id: str
    problems: list[str]


@dataclass
class LLMCoder:
    """Codes incidents by asking a chat model, constrained to the codebook's ids."""

    base_url: str
    model: str
    codebook: Codebook | str = "vcd"
    api_key: str | None = None
    retries: int = 2
    timeout: float = 120.0
    temperature: float = 0.0
    failures: list[LLMFailure] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.codebook, str):
            self.codebook = load_codebook(self.codebook)
        self.name = f"llm-{self.model}"
        self.version = "1"
        self.api_key = self.api_key or os.environ.get(API_KEY_VARIABLE)
        self._system = build_prompt(self.codebook)

    def predict(
        self,
        texts: Sequence[str],
        sources: Sequence[str | None] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[IncidentCoding]:
        """Codings for the incidents the model answered validly; the rest go to ``failures``."""
        identifiers = default_ids(len(texts), ids)
        results = []
        for identifier, text in zip(identifiers, texts, strict=True):
            coding = self._code_one(identifier, text)
            if coding is not None:
                results.append(coding)
        return results

    def _code_one(self, identifier: str, text: str) -> IncidentCoding | None:
        messages = [
            {"role": "system", "content": self._system},
            {"role": "user", "content": _user_message(text)},
        ]
        problems: list[str] = []
        for _ in range(self.retries + 1):
            answer = self._chat(messages)
            decisions, problems = parse_answer(self.codebook, answer, text)
            if not problems:
                return IncidentCoding(identifier, decisions)
            messages += [
                {"role": "assistant", "content": answer},
                {
                    "role": "user",
                    "content": "Your answer is invalid:\n- "
                    + "\n- ".join(problems)
                    + "\nAnswer again with one corrected JSON object only.",
                },
            ]
        self.failures.append(LLMFailure(identifier, problems))
        return None

    def _chat(self, messages: list[dict[str, str]]) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "messages": messages,
                "temperature": self.temperature,
                "response_format": {"type": "json_object"},
            }
        ).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            self.base_url.rstrip("/") + "/chat/completions", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise CovalueError(f"LLM endpoint {self.base_url} answered HTTP {exc.code}: {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError) as exc:
            raise CovalueError(f"cannot reach LLM endpoint {self.base_url}: {exc}") from exc
        try:
            return payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise CovalueError(f"LLM endpoint {self.base_url} sent no chat completion") from exc


def build_prompt(codebook: Codebook) -> str:
    """The system prompt: the task, every dimension and code, and the answer format."""
    lines = [
        f"You code one service incident with the codebook '{codebook.spec.name}' ({codebook.key}).",
        "Code only what the text says. Answer with ONE JSON object and nothing else.",
        "",
    ]
    for dimension in codebook.dimensions:
        how = (
            "exactly one code id (a string)"
            if dimension.cardinality == "single"
            else "a list of code ids, possibly empty"
        )
        lines.append(f"## {dimension.id}: {dimension.name} — {how}")
        lines.append(dimension.description)
        if dimension.required_when is not None:
            rule = dimension.required_when
            lines.append(
                f"Required (non-empty) when {rule.dimension} is one of {', '.join(rule.codes)}; empty otherwise."
            )
        for flat in codebook.codes(dimension.id, codable_only=True):
            group = f" [{flat.parent}]" if flat.parent else ""
            lines.append(f"- {flat.id}{group}: {flat.code.name}. {flat.code.definition}")
        lines.append("")
    example = {d.id: ("<one id>" if d.cardinality == "single" else ["<id>", "..."]) for d in codebook.dimensions}
    example["evidence"] = {"<dimension>:<code id>": "<short exact quote from the text>"}
    lines.append("Answer format (evidence quotes are optional but must be copied exactly from the text):")
    lines.append(json.dumps(example))
    return "\n".join(lines)


def _user_message(text: str) -> str:
    return f"Incident text:\n<<<\n{text}\n>>>"


def parse_answer(codebook: Codebook, answer: str, text: str) -> tuple[dict[str, tuple[CodeDecision, ...]], list[str]]:
    """Decisions from a model's answer, or the list of problems that make it invalid."""
    data = _json_object(answer)
    if data is None:
        return {}, ["the answer is not a JSON object"]
    problems: list[str] = []
    chosen: dict[str, list[str]] = {}
    for dimension in codebook.dimensions:
        value = data.get(dimension.id)
        values = _as_list(value)
        if value is None or values is None:
            problems.append(f"'{dimension.id}' is missing or not a string/list")
            continue
        unknown = [v for v in values if v not in codebook.code_ids(dimension.id)]
        if unknown:
            problems.append(f"'{dimension.id}' has unknown ids {unknown}; allowed: {codebook.code_ids(dimension.id)}")
        if dimension.cardinality == "single" and len(values) != 1:
            problems.append(f"'{dimension.id}' needs exactly one id, got {len(values)}")
        chosen[dimension.id] = [v for v in values if v not in unknown]
    for dimension in codebook.dimensions:
        rule = dimension.required_when
        if rule is None or dimension.id not in chosen or rule.dimension not in chosen:
            continue
        needed = bool(set(chosen[rule.dimension]) & set(rule.codes))
        if needed and not chosen[dimension.id]:
            problems.append(f"'{dimension.id}' must not be empty when {rule.dimension} is {chosen[rule.dimension]}")
        if not needed and chosen[dimension.id]:
            problems.append(f"'{dimension.id}' must be empty when {rule.dimension} is {chosen[rule.dimension]}")
    if problems:
        return {}, problems
    quotes = data.get("evidence") if isinstance(data.get("evidence"), dict) else {}
    decisions = {
        dimension: tuple(CodeDecision(code, 1.0, _locate(text, quotes.get(f"{dimension}:{code}"))) for code in codes)
        for dimension, codes in chosen.items()
    }
    return decisions, []


def _json_object(answer: str) -> dict[str, Any] | None:
    text = answer.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _as_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    return None


def _locate(text: str, quote: Any) -> tuple[Span, ...]:
    """The quote's span in the text (evidence that does not occur verbatim is dropped)."""
    if not isinstance(quote, str) or not quote.strip():
        return ()
    position = text.find(quote.strip())
    if position < 0:
        position = text.lower().find(quote.strip().lower())
    return (Span(position, position + len(quote.strip())),) if position >= 0 else ()
