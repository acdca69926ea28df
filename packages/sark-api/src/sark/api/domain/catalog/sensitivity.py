"""Derive a tool's sensitivity from its definition: keyword rules plus MCP annotations.

Pure functions over plain data. The keyword tables are data (:data:`KEYWORD_RULES`), so a
rule is added or tuned by editing a row, and every derivation names the rule that fired
(``"secrets:password@parameters"``, ``"annotation:destructiveHint"``, ``"default"``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, NamedTuple

from sark.core.models import Sensitivity

#: Order of levels, lowest first; ``max`` over ranks picks the stricter level.
RANK: Final[Mapping[Sensitivity, int]] = {level: i for i, level in enumerate(Sensitivity)}

#: Level of a tool nothing else says anything about: not trusted to be harmless.
DEFAULT_LEVEL: Final = Sensitivity.MEDIUM


class KeywordRule(NamedTuple):
    """Words that, found in a tool's definition, give it at least ``level``."""

    name: str
    level: Sensitivity
    words: tuple[str, ...]


#: Keyword rules, strictest first. A word matches a whole token of the name, description
#: or a parameter name, also with a common inflection (``deletes``, ``passwords``).
KEYWORD_RULES: Final[tuple[KeywordRule, ...]] = (
    KeywordRule(
        "secrets",
        Sensitivity.CRITICAL,
        (
            "secret",
            "password",
            "passwd",
            "credential",
            "private_key",
            "apikey",
            "api_key",
            "access_token",
            "auth_token",
            "refresh_token",
            "ssn",
            "credit_card",
        ),
    ),
    KeywordRule(
        "code-execution",
        Sensitivity.CRITICAL,
        ("exec", "execute", "shell", "eval", "sudo", "subprocess", "bash", "command"),
    ),
    KeywordRule(
        "money-movement",
        Sensitivity.CRITICAL,
        ("payment", "pay", "transfer", "withdraw", "refund", "charge", "wire", "payout"),
    ),
    KeywordRule(
        "destructive",
        Sensitivity.HIGH,
        (
            "delete",
            "drop",
            "truncate",
            "remove",
            "destroy",
            "purge",
            "wipe",
            "kill",
            "terminate",
            "revoke",
            "grant",
            "deploy",
            "rm",
        ),
    ),
    KeywordRule(
        "mutation",
        Sensitivity.MEDIUM,
        (
            "write",
            "update",
            "create",
            "insert",
            "modify",
            "edit",
            "set",
            "send",
            "post",
            "put",
            "patch",
            "upload",
            "move",
            "rename",
            "add",
            "save",
            "publish",
        ),
    ),
    KeywordRule(
        "read-only",
        Sensitivity.LOW,
        (
            "read",
            "get",
            "list",
            "search",
            "find",
            "fetch",
            "describe",
            "show",
            "view",
            "lookup",
            "count",
            "echo",
            "ping",
            "status",
        ),
    ),
)

#: Where keywords are looked for, in reporting order.
SOURCES: Final = ("name", "description", "parameters")
_INFLECTIONS: Final = ("", "s", "es", "d", "ed", "ing", "ion", "ions")
_E_SUFFIXES: Final = ("ing", "ion", "ions")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


class Derivation(NamedTuple):
    """A derived level and the rule that produced it."""

    level: Sensitivity
    rule: str


def tokens(text: str) -> list[str]:
    """Lower-case word tokens of ``text``, splitting camelCase, snake_case and punctuation."""
    spaced = _CAMEL.sub(" ", text).lower()
    return [token for token in _NON_WORD.split(spaced) if token]


def _phrases(text: str) -> Iterator[str]:
    # Single tokens plus adjacent pairs joined by "_", so two-word keywords such as
    # ``private_key`` match ``privateKey``, ``private-key`` and "private key".
    words = tokens(text)
    yield from words
    yield from (f"{a}_{b}" for a, b in itertools.pairwise(words))


def _matches(phrase: str, word: str) -> bool:
    if phrase.startswith(word) and phrase[len(word) :] in _INFLECTIONS:
        return True
    # A final "e" drops before a suffix: deleting, deletion, execution, writing.
    stem = word[:-1]
    return word.endswith("e") and phrase.startswith(stem) and phrase[len(stem) :] in _E_SUFFIXES


def parameter_names(schema: Mapping[str, Any] | None) -> list[str]:
    """Every property name of a JSON schema, nested objects and array items included."""
    names: list[str] = []
    stack: list[Any] = [schema or {}]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, Mapping):
            continue
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            names.extend(str(key) for key in properties)
            stack.extend(properties.values())
        for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
            if key in node:
                stack.append(node[key])
    return names


def keyword_match(
    name: str, description: str, schema: Mapping[str, Any] | None
) -> Derivation | None:
    """The strictest keyword rule matching the definition, or None."""
    texts = {
        "name": [name],
        "description": [description],
        "parameters": parameter_names(schema),
    }
    for rule in KEYWORD_RULES:
        for source in SOURCES:
            word = _first_word(rule.words, texts[source])
            if word is not None:
                return Derivation(rule.level, f"{rule.name}:{word}@{source}")
    return None


def _first_word(words: Iterable[str], texts: Iterable[str]) -> str | None:
    phrases = [phrase for text in texts for phrase in _phrases(text)]
    for word in words:
        if any(_matches(phrase, word) for phrase in phrases):
            return word
    return None


_ANNOTATION_ALIASES: Final = {
    "read_only_hint": "readOnlyHint",
    "destructive_hint": "destructiveHint",
    "idempotent_hint": "idempotentHint",
    "open_world_hint": "openWorldHint",
}


def normalize_annotations(annotations: Mapping[str, Any] | None) -> dict[str, Any]:
    """MCP tool annotations with wire (camelCase) names; None values dropped."""
    return {
        _ANNOTATION_ALIASES.get(key, key): value
        for key, value in (annotations or {}).items()
        if value is not None
    }


def derive(
    name: str,
    description: str = "",
    input_schema: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
) -> Derivation:
    """The sensitivity a tool's definition implies, with the rule that decided it.

    Keywords are checked first. ``readOnlyHint: true`` makes a tool ``low`` unless a
    keyword rule says it is stricter (a read-only tool that returns passwords is still
    critical). Otherwise ``destructiveHint: true`` raises the level to at least ``high``
    and ``openWorldHint: true`` to at least ``medium``; with nothing to go by the level
    is :data:`DEFAULT_LEVEL`. Annotations are hints from the server: they can raise a
    level or confirm a read-only one, never lower a keyword's verdict.
    """
    hints = normalize_annotations(annotations)
    keyword = keyword_match(name, description, input_schema)
    if hints.get("readOnlyHint") is True:
        if keyword is not None and keyword.level is not Sensitivity.LOW:
            return keyword
        return Derivation(Sensitivity.LOW, "annotation:readOnlyHint")
    candidates = [keyword] if keyword is not None else []
    if hints.get("destructiveHint") is True:
        candidates.append(Derivation(Sensitivity.HIGH, "annotation:destructiveHint"))
    if hints.get("openWorldHint") is True:
        candidates.append(Derivation(Sensitivity.MEDIUM, "annotation:openWorldHint"))
    if not candidates:
        return Derivation(DEFAULT_LEVEL, "default")
    # Strictest wins; on a tie the earlier candidate (keyword before annotation).
    return max(
        candidates, key=lambda candidate: (RANK[candidate.level], -candidates.index(candidate))
    )


def stricter(a: Sensitivity, b: Sensitivity) -> Sensitivity:
    """The stricter of two levels."""
    return a if RANK[a] >= RANK[b] else b


__all__ = [
    "DEFAULT_LEVEL",
    "KEYWORD_RULES",
    "RANK",
    "Derivation",
    "KeywordRule",
    "derive",
    "keyword_match",
    "normalize_annotations",
    "parameter_names",
    "stricter",
    "tokens",
]
