"""core_place_hold: a checkout's locks, seat check and writes in one statement.

On Postgres, place_order calls this function instead of locking the event
from Python, reading the holds, then writing the order and committing: four
round trips during which every other buyer of the event waited for the lock,
while its holder waited for its Python thread (ADR 11). It mirrors
core.queries.availability.compute_availability, and a test holds the two to
the same answers. SQLite keeps the Python path.

Each statement in a VOLATILE plpgsql function reads with a snapshot of its
own, taken when it starts: the reads after the locks see every hold and sale
committed before the locks were granted.
"""

from django.db import migrations

PLACE_HOLD = """
CREATE OR REPLACE FUNCTION core_place_hold(
    p_event uuid,
    p_now timestamptz,
    p_public boolean,
    p_wanted jsonb,
    p_order jsonb,
    p_lines jsonb
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE
AS $fn$
-- p_public: a buyer's order (the event must be active, and seats wanted by
-- the waitlist are kept for it) rather than staff's. p_wanted: {"type id":
-- quantity}. p_order: the order row, by column name. p_lines: its lines,
-- without ids. Returns {"found", "missing", "fits", "available": {"type id":
-- seats}, "total_available", "line_ids"}; writes the rows only if they fit.
DECLARE
    v_active boolean;
    v_capacity integer;
    v_sold integer;
    v_reserved_any bigint := 0;
    v_reserved_total bigint := 0;
    v_verdict jsonb;
    v_line_ids jsonb;
BEGIN
    -- The event row, then its ticket types by key: every writer of seats
    -- locks them in this order (core.services.locks), so none deadlocks.
    SELECT is_active, venue_capacity, sold_count
      INTO v_active, v_capacity, v_sold
      FROM core_event WHERE id = p_event FOR UPDATE;
    IF NOT FOUND OR (p_public AND NOT v_active) THEN
        RETURN jsonb_build_object('found', false);
    END IF;
    PERFORM 1 FROM core_tickettype WHERE event_id = p_event ORDER BY id FOR UPDATE;

    IF p_public THEN
        SELECT coalesce(sum(quantity) FILTER (WHERE ticket_type_id IS NULL), 0),
               coalesce(sum(quantity), 0)
          INTO v_reserved_any, v_reserved_total
          FROM core_waitlistentry
         WHERE event_id = p_event AND status = 'waiting';
    END IF;

    WITH held AS (
        SELECT line.ticket_type_id AS id, sum(line.quantity) AS seats
          FROM core_orderline line
          JOIN core_order o ON o.id = line.order_id
         WHERE o.event_id = p_event
           AND (o.status = 'processing'
                OR (o.status = 'pending' AND o.hold_expires_at > p_now))
         GROUP BY line.ticket_type_id
    ), waiting AS (
        SELECT ticket_type_id AS id, sum(quantity) AS seats
          FROM core_waitlistentry
         WHERE p_public AND event_id = p_event AND status = 'waiting'
           AND ticket_type_id IS NOT NULL
         GROUP BY ticket_type_id
    ), per_type AS (
        SELECT t.id,
               coalesce(h.seats, 0) AS held,
               greatest(0, t.capacity - t.sold_count - coalesce(h.seats, 0)
                           - coalesce(w.seats, 0)) AS free
          FROM core_tickettype t
          LEFT JOIN held h ON h.id = t.id
          LEFT JOIN waiting w ON w.id = t.id
         WHERE t.event_id = p_event
    ), venue AS (
        SELECT greatest(0, v_capacity - v_sold - coalesce(sum(held), 0)
                           - v_reserved_total) AS free,
               coalesce(sum(free), 0) AS free_sum
          FROM per_type
    ), figures AS (
        SELECT greatest(0, least(venue.free_sum - v_reserved_any, venue.free)) AS total,
               (SELECT coalesce(jsonb_object_agg(p.id, least(p.free, venue.free)), '{}')
                  FROM per_type p) AS available
          FROM venue
    ), wanted AS (
        SELECT key::bigint AS id, (value #>> '{}')::integer AS seats
          FROM jsonb_each(p_wanted)
    )
    SELECT jsonb_build_object(
               'found', true,
               'missing', EXISTS (SELECT 1 FROM wanted w
                                   WHERE NOT (figures.available ? w.id::text)),
               'fits', (SELECT coalesce(bool_and(
                                  w.seats <= coalesce((figures.available ->> w.id::text)::integer, 0)), false)
                          FROM wanted w)
                       AND (SELECT sum(seats) FROM wanted) <= figures.total,
               'available', figures.available,
               'total_available', figures.total)
      INTO v_verdict
      FROM figures;

    IF (v_verdict ->> 'fits')::boolean AND NOT (v_verdict ->> 'missing')::boolean THEN
        INSERT INTO core_order
        SELECT * FROM jsonb_populate_record(NULL::core_order, p_order);
        -- The lines' columns by name: a new OrderLine column must be added
        -- here too (a test compares this list with the model's).
        WITH written AS (
            INSERT INTO core_orderline (quantity, unit_price, order_id, ticket_type_id)
            SELECT quantity, unit_price, order_id, ticket_type_id
              FROM jsonb_populate_recordset(NULL::core_orderline, p_lines)
            RETURNING id
        )
        SELECT jsonb_agg(id ORDER BY id) INTO v_line_ids FROM written;
        v_verdict := v_verdict || jsonb_build_object('line_ids', v_line_ids);
    END IF;
    RETURN v_verdict;
END
$fn$;
"""

DROP_PLACE_HOLD = "DROP FUNCTION IF EXISTS core_place_hold(uuid, timestamptz, boolean, jsonb, jsonb, jsonb);"


def create_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PLACE_HOLD)


def drop_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_PLACE_HOLD)


class Migration(migrations.Migration):
    dependencies = [("core", "0006_sessions_name_the_staff_backend")]

    operations = [migrations.RunPython(create_function, drop_function)]
