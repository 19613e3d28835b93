"""The plans Postgres gives a hot path's statements, as if never analyzed.

Before a table's first ANALYZE (a restored dump, autovacuum off, a new
deployment's first on-sale) Postgres sizes it from its pages alone and
costs every index alike, so a statement meant to read one row by its key
may take an index on its event instead and read the whole night. Postgres
only: the callers use the `postgres` fixture.
"""

import json
from contextlib import contextmanager

from django.db import connection


def forget_statistics(*models) -> None:
    """Make these models' tables look never analyzed, inside the test's
    transaction (which rolls it back)."""
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                "UPDATE pg_class SET reltuples = -1, relpages = 0"
                " WHERE oid = %s::regclass",
                [table],
            )
            cursor.execute(
                "DELETE FROM pg_statistic WHERE starelid = %s::regclass", [table]
            )


@contextmanager
def plans_run():
    """The plan of every statement run inside, those a plpgsql function runs
    included (auto_explain, sent to this session as notices), as EXPLAIN
    (FORMAT JSON) gives them: {"Query Text", "Plan"}. Inside a transaction."""
    plans = []

    def keep(diagnostic) -> None:
        text = diagnostic.message_primary or ""
        if text.startswith("duration:") and "{" in text:
            plans.append(json.loads(text[text.index("{") :]))

    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting, value in (
            ("log_format", "json"),
            ("log_level", "notice"),
            ("log_nested_statements", "on"),
            ("log_min_duration", "0"),
        ):
            cursor.execute(f"SET LOCAL auto_explain.{setting} = {value}")
    connection.connection.add_notice_handler(keep)
    try:
        yield plans
    finally:
        connection.connection.remove_notice_handler(keep)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL auto_explain.log_min_duration = -1")


def reads_of(plan: dict, model) -> list[str]:
    """How each node of a plan reads `model`'s table: by an index (its name)
    or otherwise (the node type, e.g. "Seq Scan")."""
    found = []
    table = model._meta.db_table
    if plan.get("Relation Name") == table and "Scan" in plan.get("Node Type", ""):
        found.append(plan.get("Index Name") or plan["Node Type"])
    for child in plan.get("Plans", []):
        found += reads_of(child, model)
    return found
