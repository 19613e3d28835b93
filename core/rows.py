"""Model instances from hand-written SQL, for the few statements on hot paths.

Where the ORM spends more compiling a query than running it (a rush's
refusals, the payment page, the door), the SQL is written once per database
and its rows become instances exactly as the ORM's would: every value goes
through the converters the ORM applies (UUIDs, decimals, times and booleans
on SQLite), and `from_db` builds the instance; new rows and updates are
written as `save()` would write them. On Postgres those statements run
through `planned_cursor`, so that Postgres plans them once per connection
rather than on every request (ADR 7). Low level, like realtime.py: queries
read through it and services write through it.
"""

import datetime
import decimal
import functools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model
from django.db.transaction import TransactionManagementError


@dataclass(frozen=True)
class ModelColumns:
    """A model's concrete columns, in field order, with their converters."""

    model: type[Model]
    attnames: list[str]
    select: str  # "table"."column", ... for a SELECT list
    converters: list[tuple]  # (Col, [converter, ...]) per column

    def __len__(self) -> int:
        return len(self.attnames)

    def instance(self, values, alias: str) -> Model:
        """The instance the ORM would have built from these column values."""
        converted = convert_row(self.converters, values, connections[alias])
        return self.model.from_db(alias, self.attnames, converted)


def column_converters(col, db) -> tuple:
    """(Col, the converters the ORM applies to its values) for one column."""
    return col, db.ops.get_db_converters(col) + col.get_db_converters(db)


def convert_row(converters: list[tuple], values, db) -> list:
    """A fetched row's values as the ORM would give them (UUIDs, decimals,
    times and booleans on SQLite), from column_converters per column."""
    row = []
    for (col, funcs), value in zip(converters, values, strict=True):
        for convert in funcs:
            value = convert(value, col, db)
        row.append(value)
    return row


@functools.cache
def model_columns(model: type[Model], alias: str) -> ModelColumns:
    """Built once per model and database (converters depend only on its settings)."""
    db = connections[alias]
    quote = db.ops.quote_name
    table = model._meta.db_table
    cols = [field.get_col(table) for field in model._meta.concrete_fields]
    return ModelColumns(
        model=model,
        attnames=[field.attname for field in model._meta.concrete_fields],
        select=", ".join(f"{quote(table)}.{quote(col.target.column)}" for col in cols),
        converters=[column_converters(col, db) for col in cols],
    )


def _default_connection():
    """This thread's default connection itself, not `django.db.connection`:
    every attribute read through that proxy looks the connection up again
    (about 2 µs), and a purchase makes over a hundred of them here."""
    return connections[DEFAULT_DB_ALIAS]


@contextmanager
def planned_cursor() -> Iterator[CursorWrapper]:
    """A cursor whose statements Postgres plans once per connection.

    Django's psycopg cursors bind parameters on the client, so every
    statement is parsed and planned again; planning a read of the ticket
    table (weighing its fifteen indexes) costs Postgres about twice as much
    as running it (pgbench here: 27,600 reads/s planned each time, 81,200
    prepared). A server-side-binding cursor lets psycopg prepare a statement
    once it has run `prepare_threshold` times (5) on a connection. Only for
    the few fixed statements of the hot paths: those are not Django's ORM
    queries, whose SQL varies, and the ORM keeps client-side binding.
    Elsewhere (SQLite) it is Django's own cursor. Queries are still counted
    and logged as Django's are. Behind PgBouncer in transaction mode this
    needs its `max_prepared_statements` (1.21+).
    """
    db = _default_connection()
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    if db.connection is None:
        db.ensure_connection()
    db.validate_thread_sharing()
    raw = _server_binding_cursor()(db.connection)
    if db.queries_logged:
        wrapper = _PlannedDebugWrapper(raw, db)
    else:
        wrapper = _PlannedCursorWrapper(raw, db)
    with wrapper as cursor:
        yield cursor


@functools.cache
def _server_binding_cursor() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor

    return ServerBindingCursor


class _PlannedCursorWrapper(CursorWrapper):
    """Django's cursor wrapper, less what it costs per statement on a hot path.

    About a third of a planned statement's Python time was the wrapper's:
    a chain of execute wrappers built per call, and a fetch method wrapped
    anew (functools.wraps) at every fetch. Errors are turned into Django's
    as ever, and installed execute wrappers still run.
    """

    def execute(self, sql, params=None):
        if self.db.execute_wrappers:
            return super().execute(sql, params)
        return self._execute(sql, params)

    def fetchone(self):
        with self.db.wrap_database_errors:
            return self.cursor.fetchone()

    def fetchall(self):
        with self.db.wrap_database_errors:
            return self.cursor.fetchall()


class _PlannedDebugWrapper(CursorDebugWrapper):
    """Logs a planned statement's SQL as written (with its parameters beside
    it): Django reads the executed text back from the cursor, which psycopg
    does not keep for a prepared statement."""

    def debug_sql(
        self, sql=None, params=None, use_last_executed_query=False, many=False
    ):
        return super().debug_sql(sql, params, use_last_executed_query=False, many=many)


@functools.cache
def _rows_query(
    model: type[Model], alias: str, field_names: tuple, order_by: str, lock: str
) -> str:
    db = connections[alias]
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    conditions = " AND ".join(
        f"{table}.{quote(model._meta.get_field(name).column)} = %s"
        for name in field_names
    )
    sql = f"SELECT {model_columns(model, alias).select} FROM {table} WHERE {conditions}"
    if order_by:
        sql += f" ORDER BY {table}.{quote(model._meta.get_field(order_by).column)}"
    if lock and db.features.has_select_for_update:
        sql += " " + db.ops.for_update_sql(nowait=lock == "nowait")
    return sql


def rows_where(
    model: type[Model], *, order_by: str = "", lock: str = "", **equals
) -> list[Model]:
    """Instances of `model` whose fields equal `equals`, as the ORM's
    `filter(**equals).order_by(order_by)` would give them, from SQL written
    once per database and planned once per connection. `lock` "update" or
    "nowait" adds FOR UPDATE [NOWAIT] where the database has it (a NOWAIT
    that finds a row locked raises DatabaseError) and, as the ORM, refuses
    outside a transaction."""
    db = _default_connection()
    if lock and db.features.has_select_for_update and not db.in_atomic_block:
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    names = tuple(equals)
    sql = _rows_query(model, db.alias, names, order_by, lock)
    params = [
        model._meta.get_field(name).get_db_prep_value(value, db)
        for name, value in equals.items()
    ]
    with planned_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    columns = model_columns(model, db.alias)
    return [columns.instance(row, db.alias) for row in rows]


@functools.cache
def _insert_query(
    model: type[Model], alias: str, returning_pk: bool, rows: int
) -> tuple:
    db = connections[alias]
    quote = db.ops.quote_name
    fields = [
        field
        for field in model._meta.concrete_fields
        if not (returning_pk and field.primary_key)
    ]
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)}"
        f" ({', '.join(quote(field.column) for field in fields)})"
        f" VALUES {', '.join([row] * rows)}"
    )
    if returning_pk:
        sql += f" RETURNING {quote(model._meta.pk.column)}"
    return sql, fields


def _database_assigns_pk(instance: Model) -> bool:
    """An auto primary key not set yet: left out of the INSERT, read back."""
    return instance._meta.auto_field is not None and instance.pk is None


def _insert_params(instances, fields: list, db) -> list:
    """The parameters save() would send for new `instances` (defaults,
    `auto_now_add`, each field's `pre_save`), row after row."""
    return [
        field.get_db_prep_save(field.pre_save(instance, add=True), db)
        for instance in instances
        for field in fields
    ]


def _mark_saved(instances, db) -> None:
    for instance in instances:
        instance._state.adding = False
        instance._state.db = db.alias


def insert_rows(instances: list[Model]) -> list[Model]:
    """Write new instances of one model as `save()` would (their defaults,
    `auto_now_add` and every field's `pre_save`), in one statement written
    once per model, database and row count, and planned once per connection;
    auto primary keys come back from RETURNING, in order. Sends no model
    signals: only for models without receivers (orders, their lines,
    tickets, payments, outbox messages), on paths that write them on every
    purchase."""
    if not instances:
        return instances
    db = _default_connection()
    model = type(instances[0])
    returning_pk = _database_assigns_pk(instances[0])
    # The database's cap on parameters per statement (SQLite's, or the
    # Postgres protocol's 65,535) sets the rows per statement.
    per_row = len(_insert_query(model, db.alias, returning_pk, 1)[1])
    batch = max(1, (db.features.max_query_params or 65535) // per_row)
    for start in range(0, len(instances), batch):
        chunk = instances[start : start + batch]
        sql, fields = _insert_query(model, db.alias, returning_pk, len(chunk))
        params = _insert_params(chunk, fields, db)
        with planned_cursor() as cursor:
            cursor.execute(sql, params)
            if returning_pk:
                for instance, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                    instance.pk = pk
    _mark_saved(instances, db)
    return instances


def insert_row(instance: Model) -> Model:
    """insert_rows for one instance."""
    return insert_rows([instance])[0]


def insert_row_if_new(instance: Model, *, unique: tuple[str, ...]) -> bool:
    """insert_row, unless a row with the same `unique` fields is there already
    (their unique constraint decides: `ON CONFLICT DO NOTHING`); True if
    written. One statement where a read, then an insert, were two: a payment
    records itself this way, and a repeat of it finds the first."""
    db = _default_connection()
    model = type(instance)
    returning_pk = _database_assigns_pk(instance)
    sql, fields = _insert_query(model, db.alias, returning_pk, 1)
    head, returning, tail = sql.partition(" RETURNING ")
    quote = db.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in unique)
    sql = f"{head} ON CONFLICT ({columns}) DO NOTHING{returning}{tail}"
    with planned_cursor() as cursor:
        cursor.execute(sql, _insert_params([instance], fields, db))
        found = cursor.fetchone() if returning_pk else None
        written = found is not None if returning_pk else cursor.rowcount == 1
    if not written:
        return False
    if returning_pk:
        instance.pk = found[0]
    _mark_saved([instance], db)
    return True


def rows_as_json(instances: list[Model]) -> str:
    """New instances as a JSON array of {column: value}, the values save()
    would send, for SQL that writes rows read from JSON
    (`jsonb_populate_record`): a statement whose rows are data, not
    placeholders, can be a function's argument. An auto primary key not
    set yet is left out, for the database to assign."""
    return as_json(row_values(instances))


def row_values(instances: list[Model]) -> list[dict]:
    """rows_as_json's array before it is JSON: for a document holding the
    rows of several models, made JSON at once by as_json."""
    if not instances:
        return []
    db = _default_connection()
    _, fields = _insert_query(
        type(instances[0]), db.alias, _database_assigns_pk(instances[0]), 1
    )
    values = iter(_insert_params(instances, fields, db))
    return [{field.column: next(values) for field in fields} for _ in instances]


def as_json(document) -> str:
    """JSON of a document holding row_values (times, UUIDs and decimals in
    full, as Postgres reads them back)."""
    return json.dumps(document, default=_json_value)


def _json_value(value):
    # Full precision: Django's JSON encoder would cut times to milliseconds.
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    from psycopg.types.json import Jsonb  # rows for Postgres functions only

    if isinstance(value, Jsonb):  # a JSONField's value, adapted for psycopg
        return value.obj
    raise TypeError(f"No JSON form for {type(value).__name__}")


def mark_written(instances: list[Model], pks: list | None = None) -> None:
    """Record instances as saved (and their new auto keys, in order) once
    something other than these helpers has written them."""
    if pks is not None:
        for instance, pk in zip(instances, pks, strict=True):
            instance.pk = pk
    _mark_saved(instances, _default_connection())


def insert_row_and_rows(parent: Model, children: list[Model]) -> None:
    """insert_row(parent), then insert_rows(children), which may refer to it.

    On Postgres it is one statement (the parent's INSERT as a WITH query):
    a checkout writes its order and lines while holding the event's lock, and
    every round trip there makes the next buyer wait. The parent's primary
    key must be set already (a UUID), since nothing is read back from it.
    """
    db = _default_connection()
    if db.vendor != "postgresql" or parent.pk is None or not children:
        insert_row(parent)
        insert_rows(children)
        return
    child_model = type(children[0])
    returning_pk = _database_assigns_pk(children[0])
    parent_sql, parent_fields = _insert_query(type(parent), db.alias, False, 1)
    child_sql, child_fields = _insert_query(
        child_model, db.alias, returning_pk, len(children)
    )
    params = _insert_params([parent], parent_fields, db) + _insert_params(
        children, child_fields, db
    )
    with planned_cursor() as cursor:
        cursor.execute(f"WITH parent AS ({parent_sql}) {child_sql}", params)
        if returning_pk:
            for child, (pk,) in zip(children, cursor.fetchall(), strict=True):
                child.pk = pk
    _mark_saved([parent, *children], db)


@functools.cache
def _update_query(model: type[Model], alias: str, names: tuple) -> tuple:
    quote = connections[alias].ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments}"
        f" WHERE {quote(model._meta.pk.column)} = %s"
    )
    return sql, fields


def update_row(instance: Model, fields: list[str]) -> None:
    """`save(update_fields=fields)` from SQL written once per model, database
    and field list, and planned once per connection (each field's
    `pre_save` runs, so an `auto_now` field listed gets the time). Raises
    DatabaseError if the row is gone, as save() does. Sends no model
    signals: only for models without receivers."""
    db = _default_connection()
    sql, model_fields = _update_query(type(instance), db.alias, tuple(fields))
    params = [
        field.get_db_prep_save(field.pre_save(instance, add=False), db)
        for field in model_fields
    ]
    params.append(instance._meta.pk.get_db_prep_value(instance.pk, db))
    with planned_cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")
