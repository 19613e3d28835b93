"""core_place_hold reads the lapsed holds' lines one order at a time, by key.

Its seat count subtracts the pending orders whose hold lapsed (and the
sweep has not closed yet) from the types' held counters. Once the tables
were analyzed, Postgres took "pending with no hold expiry" for some 6% of
all orders, paid orders having no expiry either, where there are none, so
it hashed every order line ever sold (13.1k lines here, and growing with
every order) to join them; and its cached (generic) plan read those orders
through the index on the event, every order the event ever sold, under the
event's lock that every checkout of the event waits for.

The lapsed orders are now read by status and expiry alone, through the
(status, hold_expires_at) index, every event's as the sweep reads them:
named with the event, any of the event's indexes could be taken. Their lines
are read by `order_id = ANY (ARRAY(...))`, which Postgres plans as a few
keys, one probe of the order index each, whatever it guesses of the orders;
the join to this event's types keeps only this event's seats, as before.
Same signature, same answers, same locks (nothing here locks).
"""

import importlib

from django.db import migrations

PLACE_HOLD = """CREATE OR REPLACE FUNCTION core_place_hold(
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
-- Or, when the order's checkout_key already names a pending order of the
-- event, for the same buyer and seats, with its hold live: {"found",
-- "earlier": that order's id}, and nothing is written.
DECLARE
    v_active boolean;
    v_capacity integer;
    v_sold integer;
    v_reserved_any bigint := 0;
    v_reserved_total bigint := 0;
    v_verdict jsonb;
    v_line_ids jsonb;
    v_key text := p_order ->> 'checkout_key';
    v_earlier uuid;
    v_same boolean;
    v_line record;
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

    -- The same buy form sent again before its first answer came back (a
    -- double click, a browser resending the request): under the event's
    -- lock the first one's order is committed and seen here, and is the
    -- answer while it holds the same seats for the same buyer.
    IF v_key IS NOT NULL THEN
        SELECT o.id,
               o.status = 'pending' AND o.hold_expires_at > p_now
               AND o.customer_name = p_order ->> 'customer_name'
               AND o.customer_email = p_order ->> 'customer_email'
               AND o.customer_phone = p_order ->> 'customer_phone'
               AND (SELECT jsonb_object_agg(line.ticket_type_id::text, line.quantity)
                      FROM core_orderline line
                     WHERE line.order_id = o.id) = p_wanted
          INTO v_earlier, v_same
          FROM core_order o
         WHERE o.event_id = p_event AND o.checkout_key = v_key
         ORDER BY o.created_at DESC
         LIMIT 1;
        IF v_same THEN
            RETURN jsonb_build_object('found', true, 'earlier', v_earlier);
        END IF;
    END IF;

    IF p_public THEN
        SELECT coalesce(sum(quantity) FILTER (WHERE ticket_type_id IS NULL), 0),
               coalesce(sum(quantity), 0)
          INTO v_reserved_any, v_reserved_total
          FROM core_waitlistentry
         WHERE event_id = p_event AND status = 'waiting';
    END IF;

    -- Held seats: each type's held_count (its pending and processing
    -- orders) less the pending orders whose hold lapsed that the sweep has
    -- not closed yet; only those few are added up here, never every hold.
    -- (Two index ranges: with an OR the scan would read every pending order.)
    -- They are read by status and expiry alone, every event's, as the sweep
    -- reads them; `live` keeps this event's types. Named with the event,
    -- the cached plan read the event's index: every order it ever sold.
    -- Their lines by order key, one probe per lapsed order: joined to the
    -- orders as a set, once analyzed Postgres guessed hundreds of pending
    -- orders with no expiry (paid ones have none either; there are none)
    -- and hashed every order line ever sold, under the event's lock.
    WITH lapsed_orders AS (
        SELECT id FROM core_order
         WHERE status = 'pending' AND hold_expires_at <= p_now
        UNION ALL
        SELECT id FROM core_order
         WHERE status = 'pending' AND hold_expires_at IS NULL
    ), lapsed AS (
        SELECT line.ticket_type_id AS id, sum(line.quantity) AS seats
          FROM core_orderline line
         WHERE line.order_id = ANY (ARRAY(SELECT id FROM lapsed_orders))
         GROUP BY line.ticket_type_id
    ), waiting AS (
        SELECT ticket_type_id AS id, sum(quantity) AS seats
          FROM core_waitlistentry
         WHERE p_public AND event_id = p_event AND status = 'waiting'
           AND ticket_type_id IS NOT NULL
         GROUP BY ticket_type_id
    ), live AS (
        SELECT t.id, t.capacity, t.sold_count,
               greatest(0, t.held_count - coalesce(l.seats, 0)) AS held
          FROM core_tickettype t
          LEFT JOIN lapsed l ON l.id = t.id
         WHERE t.event_id = p_event
    ), per_type AS (
        SELECT t.id,
               t.held,
               greatest(0, t.capacity - t.sold_count - t.held
                           - coalesce(w.seats, 0)) AS free
          FROM live t
          LEFT JOIN waiting w ON w.id = t.id
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
        -- The new order takes the key too; the newest answers a repeat. The
        -- earlier order's row is not touched: a payment or refund locks an
        -- order before its event, so writing it here could deadlock.
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
        -- Its seats are held now; the types are locked already. Each type
        -- by its key: joined to the lines as a set (100 rows to the
        -- planner), the update read every type of every event.
        FOR v_line IN SELECT ticket_type_id, quantity
                        FROM jsonb_populate_recordset(NULL::core_orderline, p_lines)
                       ORDER BY ticket_type_id LOOP
            UPDATE core_tickettype SET held_count = held_count + v_line.quantity
             WHERE id = v_line.ticket_type_id;
        END LOOP;
        v_verdict := v_verdict || jsonb_build_object('line_ids', v_line_ids);
    END IF;
    RETURN v_verdict;
END
$fn$;
"""


def create_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PLACE_HOLD)


def restore_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        before = importlib.import_module(
            "core.migrations.0020_place_hold_moves_held_seats_by_key"
        )
        schema_editor.execute(before.PLACE_HOLD)


class Migration(migrations.Migration):
    dependencies = [("core", "0020_place_hold_moves_held_seats_by_key")]

    operations = [migrations.RunPython(create_function, restore_function)]
