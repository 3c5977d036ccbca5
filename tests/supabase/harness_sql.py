"""PostgRESTHarness, part 1: the subset of PostgREST's URL grammar the Supabase store sends, turned
into parameterized SQL (identifiers through psycopg.sql, values always as parameters).

Supported: `select=` with plain columns; filters `eq neq lt lte gt gte like ilike is in`, each
optionally `not.`; `or=(...)` of such filters with double-quoted values; `order=`; `limit`/`offset`;
JSON bodies for insert (with `columns=`) and update. Anything else is refused with 400, so a store
that starts relying on more of PostgREST fails loudly here instead of being answered wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# PostgREST 12 adds `isdistinct` (IS DISTINCT FROM: a NULL is a value like any other)
COMPARISONS = {
    "eq": "=",
    "neq": "<>",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
    "isdistinct": "IS DISTINCT FROM",
}
IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
RESERVED_PARAMS = {"select", "order", "limit", "offset", "columns", "or"}
TARGET = "pgrst_t"  # the alias every statement gives the table (or function result) it works on


class Unsupported(ValueError):
    """A request outside the subset this harness speaks (answered 400, code PGRST100)."""


def identifier(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise Unsupported(f"not a plain identifier: {name!r}")
    return name


def column(name: str) -> sql.Identifier:
    return sql.Identifier(TARGET, identifier(name))


def split_outside(text: str, separator: str = ",") -> list[str]:
    """Split at `separator` outside double quotes and parentheses (PostgREST's logic-tree lists)."""
    parts, current, depth, quoted, escaped = [], [], 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == separator:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted or depth:
        raise Unsupported(f"unbalanced quotes or parentheses in {text!r}")
    parts.append("".join(current))
    return parts


def unquote(value: str) -> str:
    """A value inside a logic tree or `in` list: `"..."` with `\\x` meaning x, else as it is."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.DOTALL)
    if '"' in value:
        raise Unsupported(f"stray double quote in {value!r}")
    return value


def condition(name: str, expression: str, in_tree: bool) -> tuple[sql.Composable, list[Any]]:
    """`column=[not.]op.value` as SQL. In a logic tree (`or=`) the value may be double-quoted."""
    negated = expression.startswith("not.")
    if negated:
        expression = expression.removeprefix("not.")
    operator, dot, operand = expression.partition(".")
    if not dot:
        raise Unsupported(f"filter without an operator: {name}={expression}")
    target = column(name)
    params: list[Any] = []
    if operator in COMPARISONS:
        params = [unquote(operand) if in_tree else operand]
        clause: sql.Composable = sql.SQL("{} {} %s").format(target, sql.SQL(COMPARISONS[operator]))
    elif operator in ("like", "ilike"):
        pattern = unquote(operand) if in_tree else operand
        params = [pattern.replace("*", "%")]  # PostgREST: `*` is `%` in like patterns, always
        clause = sql.SQL("{} {} %s").format(target, sql.SQL(operator.upper()))
    elif operator == "is":
        if operand.lower() not in IS_VALUES:
            raise Unsupported(f"is.{operand}")
        clause = sql.SQL("{} IS {}").format(target, sql.SQL(IS_VALUES[operand.lower()]))
    elif operator == "in":
        if not (operand.startswith("(") and operand.endswith(")")):
            raise Unsupported(f"in needs a parenthesised list: {operand!r}")
        inner = operand[1:-1]
        params = [unquote(item) for item in split_outside(inner)] if inner else []
        placeholders = sql.SQL(", ").join(sql.Placeholder() * len(params))
        clause = sql.SQL("{} IN ({})").format(target, placeholders) if params else sql.SQL("FALSE")
    else:
        raise Unsupported(f"operator {operator!r}")
    return (sql.SQL("NOT ({})").format(clause) if negated else clause), params


def or_condition(value: str) -> tuple[sql.Composable, list[Any]]:
    if not (value.startswith("(") and value.endswith(")")):
        raise Unsupported(f"or= needs a parenthesised list: {value!r}")
    clauses, params = [], []
    for item in split_outside(value[1:-1]):
        name, dot, expression = item.partition(".")
        if not dot or name in ("and", "or", "not"):
            raise Unsupported(f"nested logic or bad item in or=: {item!r}")
        clause, values = condition(name, expression, in_tree=True)
        clauses.append(clause)
        params += values
    return sql.SQL("({})").format(sql.SQL(" OR ").join(clauses)), params


@dataclass
class Query:
    """What a request's query string asks for."""

    columns: list[str] | None = None  # None: *
    where: list[sql.Composable] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    order: list[sql.Composable] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    insert_columns: list[str] | None = None
    on_conflict: list[str] | None = None

    def where_sql(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.where) if self.where else sql.SQL("TRUE")

    def select_list(self) -> sql.Composable:
        if self.columns is None:
            return sql.SQL("{}.*").format(sql.Identifier(TARGET))
        return sql.SQL(", ").join(column(name) for name in self.columns)

    def tail(self) -> tuple[sql.Composable, list[Any]]:
        """ORDER BY / LIMIT / OFFSET and their parameters."""
        parts: list[sql.Composable] = []
        params: list[Any] = []
        if self.order:
            parts.append(sql.SQL("ORDER BY {}").format(sql.SQL(", ").join(self.order)))
        if self.limit is not None:
            parts.append(sql.SQL("LIMIT %s"))
            params.append(self.limit)
        if self.offset:
            parts.append(sql.SQL("OFFSET %s"))
            params.append(self.offset)
        return sql.SQL(" ").join(parts), params


def order_item(item: str) -> sql.Composable:
    name, *modifiers = item.split(".")
    words = []
    for modifier in modifiers:
        words.append(
            {"asc": "ASC", "desc": "DESC", "nullsfirst": "NULLS FIRST", "nullslast": "NULLS LAST"}.get(
                modifier, ""
            )
        )
        if not words[-1]:
            raise Unsupported(f"order modifier {modifier!r}")
    return sql.SQL(" ").join([column(name), *map(sql.SQL, words)])


def parse_query(pairs: Iterable[tuple[str, str]], range_header: str | None) -> Query:
    query = Query()
    for key, value in pairs:
        if key == "select":
            query.columns = None if value == "*" else [identifier(name) for name in value.split(",")]
        elif key == "order":
            query.order = [order_item(item) for item in value.split(",")]
        elif key == "limit":
            query.limit = int(value)
        elif key == "offset":
            query.offset = int(value)
        elif key == "columns":
            query.insert_columns = [identifier(unquote(name)) for name in split_outside(value)]
        elif key == "on_conflict":
            query.on_conflict = [identifier(name) for name in value.split(",")]
        elif key == "or":
            clause, params = or_condition(value)
            query.where.append(clause)
            query.params += params
        elif key in RESERVED_PARAMS or "." in key:
            raise Unsupported(f"query parameter {key!r}")
        else:
            clause, params = condition(key, value, in_tree=False)
            query.where.append(clause)
            query.params += params
    if range_header and query.limit is None:  # `Range: 0-9` (Range-Unit: items), as PostgREST reads it
        match = re.fullmatch(r"\s*(\d+)-(\d*)\s*", range_header)
        if not match:
            raise Unsupported(f"Range {range_header!r}")
        query.offset = int(match.group(1))
        if match.group(2):
            query.limit = int(match.group(2)) - query.offset + 1
    return query


def rows_json(source: sql.Composable, query: Query) -> sql.Composable:
    """The written rows (`source`, a CTE) as a JSON array of the chosen columns, and their number."""
    if query.order or query.limit is not None or query.offset:
        raise Unsupported("order, limit or offset on a write")
    return sql.SQL(
        "SELECT coalesce(json_agg(pgrst_r), '[]'::json), count(*) FROM"
        " (SELECT {columns} FROM {source} AS {target}) pgrst_r"
    ).format(columns=query.select_list(), source=source, target=sql.Identifier(TARGET))


def table_name(schema: str, table: str) -> sql.Composable:
    return sql.Identifier(identifier(schema), identifier(table))


def select_statement(table: sql.Composable, query: Query) -> tuple[sql.Composable, list[Any]]:
    tail, tail_params = query.tail()
    statement = sql.SQL(
        "SELECT coalesce(json_agg(pgrst_r), '[]'::json) FROM"
        " (SELECT {columns} FROM {table} AS {target} WHERE {where} {tail}) pgrst_r"
    ).format(
        columns=query.select_list(),
        table=table,
        target=sql.Identifier(TARGET),
        where=query.where_sql(),
        tail=tail,
    )
    return statement, [*query.params, *tail_params]


def count_statement(table: sql.Composable, query: Query) -> tuple[sql.Composable, list[Any]]:
    statement = sql.SQL("SELECT count(*) FROM {table} AS {target} WHERE {where}").format(
        table=table, target=sql.Identifier(TARGET), where=query.where_sql()
    )
    return statement, list(query.params)


def insert_statement(
    table: sql.Composable, query: Query, rows: list[dict[str, Any]], resolution: str | None
) -> sql.Composable:
    """As PostgREST does it: the listed columns from `json_populate_recordset` over the body (%s);
    `Prefer: resolution=ignore-duplicates` with `on_conflict=` adds ON CONFLICT (...) DO NOTHING."""
    names = query.insert_columns or (list(rows[0]) if rows else [])
    if not names:
        raise Unsupported("an insert without columns")
    conflict: sql.Composable = sql.SQL("")
    if resolution is not None or query.on_conflict is not None:
        if resolution != "ignore-duplicates" or not query.on_conflict:
            raise Unsupported(f"resolution={resolution} with on_conflict={query.on_conflict}")
        targets = sql.SQL(", ").join(map(sql.Identifier, query.on_conflict))
        conflict = sql.SQL("ON CONFLICT ({}) DO NOTHING").format(targets)
    columns = sql.SQL(", ").join(sql.Identifier(identifier(name)) for name in names)
    return sql.SQL(
        "WITH pgrst_source AS (INSERT INTO {table} AS {target} ({columns})"
        " SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s::json) {conflict}"
        " RETURNING {target}.*) "
    ).format(table=table, target=sql.Identifier(TARGET), columns=columns, conflict=conflict) + rows_json(
        sql.Identifier("pgrst_source"), query
    )


def update_statement(table: sql.Composable, query: Query, body: dict[str, Any]) -> sql.Composable:
    """SET each body column from `json_populate_record` over the body (first %s), then the filters."""
    if not body:
        raise Unsupported("an update without columns")
    assignments = sql.SQL(", ").join(
        sql.SQL("{name} = (SELECT {name} FROM pgrst_body)").format(name=sql.Identifier(identifier(name)))
        for name in body
    )
    return sql.SQL(
        "WITH pgrst_body AS (SELECT * FROM json_populate_record(NULL::{table}, %s::json)),"
        " pgrst_source AS (UPDATE {table} AS {target} SET {assignments} WHERE {where} RETURNING {target}.*) "
    ).format(
        table=table, target=sql.Identifier(TARGET), assignments=assignments, where=query.where_sql()
    ) + rows_json(sql.Identifier("pgrst_source"), query)


def delete_statement(table: sql.Composable, query: Query) -> sql.Composable:
    return sql.SQL(
        "WITH pgrst_source AS (DELETE FROM {table} AS {target} WHERE {where} RETURNING {target}.*) "
    ).format(table=table, target=sql.Identifier(TARGET), where=query.where_sql()) + rows_json(
        sql.Identifier("pgrst_source"), query
    )


@dataclass(frozen=True)
class Function:
    """A function as the catalogue describes it: input arguments, and whether it returns rows."""

    schema: str
    name: str
    arguments: dict[str, str]  # input name -> type (from format_type)
    returns_rows: bool


TYPE_NAME = re.compile(r"^[a-z][a-z0-9_ ]*(\[\])?$")


def rpc_statement(function: Function, query: Query, arguments: dict[str, Any]) -> sql.Composable:
    """Call with named arguments typed from `json_to_record` over the body (first %s), as PostgREST
    does; a set-returning function's rows go through the same filters, order and limit as a table."""
    target = sql.Identifier(function.schema, function.name)
    names = list(function.arguments)
    types = [function.arguments[name] for name in names]
    if any(not TYPE_NAME.match(kind) for kind in types):
        raise Unsupported(f"argument types {types}")
    call = sql.SQL("{}({})").format(
        target,
        sql.SQL(", ").join(
            sql.SQL("{name} := pgrst_args.{name}").format(name=sql.Identifier(name)) for name in names
        ),
    )
    record = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
        for name, kind in zip(names, types, strict=True)
    )
    arguments_cte = (
        sql.SQL("WITH pgrst_args AS (SELECT * FROM json_to_record(%s::json) AS pgrst_a({record}))").format(
            record=record
        )
        if names
        else sql.SQL("WITH pgrst_args AS (SELECT WHERE %s::json IS NOT NULL)")
    )
    if not function.returns_rows:
        return arguments_cte + sql.SQL(" SELECT to_json({call}), 1 FROM pgrst_args").format(call=call)
    tail, _ = query.tail()
    return arguments_cte + sql.SQL(
        ", pgrst_source AS (SELECT pgrst_f.* FROM pgrst_args, {call} AS pgrst_f)"
        " SELECT coalesce(json_agg(pgrst_r), '[]'::json), count(*) FROM"
        " (SELECT {columns} FROM pgrst_source AS {alias} WHERE {where} {tail}) pgrst_r"
    ).format(
        call=call,
        columns=query.select_list(),
        alias=sql.Identifier(TARGET),
        where=query.where_sql(),
        tail=tail,
    )
