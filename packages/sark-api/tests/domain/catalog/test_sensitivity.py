from __future__ import annotations

import pytest

from sark.api.domain.catalog.sensitivity import (
    DEFAULT_LEVEL,
    KEYWORD_RULES,
    derive,
    keyword_match,
    normalize_annotations,
    parameter_names,
    tokens,
)
from sark.core.models import Sensitivity

LOW, MEDIUM, HIGH, CRITICAL = (
    Sensitivity.LOW,
    Sensitivity.MEDIUM,
    Sensitivity.HIGH,
    Sensitivity.CRITICAL,
)


def test_tokens_split_camel_snake_kebab_and_punctuation() -> None:
    assert tokens("getUserPassword") == ["get", "user", "password"]
    assert tokens("drop_table-now.please") == ["drop", "table", "now", "please"]
    assert tokens("HTTPRequest2go") == ["httprequest2go"]
    assert tokens("") == []


@pytest.mark.parametrize(
    ("name", "level", "rule"),
    [
        ("delete_file", HIGH, "destructive:delete@name"),
        ("dropTable", HIGH, "destructive:drop@name"),
        ("truncate", HIGH, "destructive:truncate@name"),
        ("exec_command", CRITICAL, "code-execution:exec@name"),
        ("run_shell", CRITICAL, "code-execution:shell@name"),
        ("make_payment", CRITICAL, "money-movement:payment@name"),
        ("transfer_funds", CRITICAL, "money-movement:transfer@name"),
        ("rotate_secret", CRITICAL, "secrets:secret@name"),
        ("reset_password", CRITICAL, "secrets:password@name"),
        ("list_credentials", CRITICAL, "secrets:credential@name"),
        ("write_file", MEDIUM, "mutation:write@name"),
        ("update_record", MEDIUM, "mutation:update@name"),
        ("createIssue", MEDIUM, "mutation:create@name"),
        ("read_file", LOW, "read-only:read@name"),
        ("get_time", LOW, "read-only:get@name"),
        ("list_repos", LOW, "read-only:list@name"),
        ("search_docs", LOW, "read-only:search@name"),
    ],
)
def test_keywords_in_the_name(name: str, level: Sensitivity, rule: str) -> None:
    assert derive(name) == (level, rule)


def test_the_strictest_rule_wins_whatever_the_order_of_words() -> None:
    # "get" (low) and "password" (critical): critical.
    assert derive("get_password").level is CRITICAL
    # "delete" (high) beats "list" (low) even when it comes later.
    assert derive("list_and_delete").rule == "destructive:delete@name"


def test_inflections_match_but_longer_words_do_not() -> None:
    assert derive("deletes_rows").rule == "destructive:delete@name"
    assert derive("passwords_dump").rule == "secrets:password@name"
    assert derive("execution_log").rule == "code-execution:execute@name"
    assert derive("deletion_job").rule == "destructive:delete@name"
    assert derive("writing_pad").rule == "mutation:write@name"
    # "settings" is not "set", "address" is not "add", "output" is not "put".
    assert derive("settings_address_output") == (DEFAULT_LEVEL, "default")


def test_two_word_keywords_match_in_any_spelling() -> None:
    for name in ("load_private_key", "loadPrivateKey", "load-private-key"):
        assert derive(name).rule == "secrets:private_key@name"


def test_description_and_parameter_names_are_sources() -> None:
    assert (
        derive("run", "Runs an arbitrary shell command").rule == "code-execution:shell@description"
    )
    schema = {"type": "object", "properties": {"user": {"type": "string"}, "password": {}}}
    assert derive("login", "", schema) == (CRITICAL, "secrets:password@parameters")


def test_nested_parameter_names_are_found() -> None:
    schema = {
        "type": "object",
        "properties": {
            "payload": {
                "type": "object",
                "properties": {"items": {"type": "array", "items": {"properties": {"ssn": {}}}}},
            },
            "alt": {"anyOf": [{"properties": {"api_key": {}}}]},
        },
    }
    assert sorted(parameter_names(schema)) == ["alt", "api_key", "items", "payload", "ssn"]
    assert derive("lookup", "", schema).level is CRITICAL


def test_name_is_reported_before_description_for_the_same_rule() -> None:
    assert derive("delete_row", "Deletes a row").rule == "destructive:delete@name"


def test_nothing_to_go_by_is_the_default_level() -> None:
    assert derive("frobnicate", "Does things.") == (MEDIUM, "default")
    assert DEFAULT_LEVEL is MEDIUM


def test_read_only_hint_makes_a_tool_low() -> None:
    assert derive("frobnicate", annotations={"readOnlyHint": True}) == (
        LOW,
        "annotation:readOnlyHint",
    )
    # A read keyword agrees with the hint.
    assert derive("list_files", annotations={"readOnlyHint": True}).level is LOW


def test_read_only_hint_does_not_overrule_stricter_keywords() -> None:
    # "unless keywords say otherwise": the hint is the server's claim, keywords are evidence.
    assert derive("update_preview", annotations={"readOnlyHint": True}) == (
        MEDIUM,
        "mutation:update@name",
    )


def test_read_only_hint_does_not_hide_secrets_or_destruction() -> None:
    assert derive("get_password", annotations={"readOnlyHint": True}) == (
        CRITICAL,
        "secrets:password@name",
    )
    assert derive("drop_table", annotations={"readOnlyHint": True}).level is HIGH


def test_read_only_hint_wins_over_destructive_hint() -> None:
    # MCP: destructiveHint is meaningful only when readOnlyHint is false.
    hints = {"readOnlyHint": True, "destructiveHint": True}
    assert derive("frobnicate", annotations=hints).level is LOW


def test_destructive_hint_raises_to_at_least_high() -> None:
    assert derive("get_thing", annotations={"destructiveHint": True}) == (
        HIGH,
        "annotation:destructiveHint",
    )
    # ... but never lowers a stricter keyword verdict.
    assert derive("exec", annotations={"destructiveHint": True}).rule == "code-execution:exec@name"


def test_destructive_hint_ties_go_to_the_keyword() -> None:
    assert derive("delete_x", annotations={"destructiveHint": True}).rule == (
        "destructive:delete@name"
    )


def test_open_world_hint_raises_to_at_least_medium() -> None:
    assert derive("get_weather", annotations={"openWorldHint": True}) == (
        MEDIUM,
        "annotation:openWorldHint",
    )
    assert derive("frobnicate", annotations={"openWorldHint": True}).rule == (
        "annotation:openWorldHint"
    )


def test_false_hints_say_nothing() -> None:
    hints = {"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False}
    assert derive("get_time", annotations=hints) == (LOW, "read-only:get@name")


def test_snake_case_annotation_names_are_accepted() -> None:
    assert normalize_annotations({"read_only_hint": True, "title": None, "x": 1}) == {
        "readOnlyHint": True,
        "x": 1,
    }
    assert derive("frobnicate", annotations={"destructive_hint": True}).level is HIGH


def test_keyword_tables_are_data_with_known_levels() -> None:
    names = [rule.name for rule in KEYWORD_RULES]
    assert len(names) == len(set(names))
    assert all(isinstance(rule.level, Sensitivity) and rule.words for rule in KEYWORD_RULES)
    assert keyword_match("nothing_here", "", None) is None
