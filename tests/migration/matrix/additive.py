"""Find non-additive operations in alembic revisions (zero-downtime rule).

While a rolling upgrade runs, old code keeps serving on the migrated schema, so a revision
newer than a release may only add: tables, nullable columns (or with a server default),
indexes. Dropping or renaming anything, or making a column NOT NULL without a default,
breaks the old code and needs a documented major version.
"""

from __future__ import annotations

import ast

_DROPS = {"drop_table", "drop_column", "drop_constraint", "rename_table"}
_SQL_WORDS = ("DROP ", "RENAME ", "SET NOT NULL")


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _column_problem(column: ast.Call) -> str | None:
    if _is_false(_keyword(column, "nullable")) and _keyword(column, "server_default") is None:
        return "adds a NOT NULL column without a server default"
    return None


def _call_problem(call: ast.Call) -> str | None:  # noqa: PLR0911 (one return per rule)
    name = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    if name in _DROPS:
        return name
    if name == "alter_column":
        if _keyword(call, "new_column_name") is not None:
            return "renames a column"
        if _is_false(_keyword(call, "nullable")):
            return "makes a column NOT NULL"
        if _keyword(call, "type_") is not None:
            return "changes a column type"
    if name == "add_column":
        columns = [a for a in call.args if isinstance(a, ast.Call)]
        return next((p for c in columns if (p := _column_problem(c))), None)
    if name == "execute" and call.args and isinstance(call.args[0], ast.Constant):
        sql = str(call.args[0].value).upper()
        return next((f"runs SQL with {w.strip()}" for w in _SQL_WORDS if w in sql), None)
    return None


def non_additive_operations(source: str) -> list[str]:
    """What the ``upgrade()`` of a revision's ``source`` does that is not additive."""
    tree = ast.parse(source)
    upgrade = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None
    )
    if upgrade is None:
        return []
    problems = []
    for node in ast.walk(upgrade):
        if isinstance(node, ast.Call) and (problem := _call_problem(node)):
            problems.append(f"line {node.lineno}: {problem}")
    return problems
