"""Model instances from hand-written SQL, for the few reads on hot paths.

Where the ORM spends more compiling a query than running it (a rush's
refusals, the payment page, the door), the SQL is written once per database
and its rows become instances exactly as the ORM's would: every value goes
through the converters the ORM applies (UUIDs, decimals, times and booleans
on SQLite), and `from_db` builds the instance.
"""

import functools
from dataclasses import dataclass

from django.db import connections
from django.db.models import Model


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
        db = connections[alias]
        converted = []
        for (col, converters), value in zip(self.converters, values, strict=True):
            for convert in converters:
                value = convert(value, col, db)
            converted.append(value)
        return self.model.from_db(alias, self.attnames, converted)


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
        converters=[
            (col, db.ops.get_db_converters(col) + col.get_db_converters(db))
            for col in cols
        ],
    )
