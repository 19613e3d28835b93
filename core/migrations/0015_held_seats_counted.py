"""Held seats are counted per ticket type, as sold seats are.

Every checkout on Postgres (core_place_hold, under the event's lock), every
availability read and the purchase page's snapshots added up the lines of
every live hold of the event. A rush with Stripe Checkout keeps thousands
of holds live while buyers sit on Stripe's page, and each checkout's time
under the lock grew with them: here, 1.8 ms at 200 live holds, 6.6 ms at
about 2,000 (pgbench, one client), so the event's checkouts would queue
behind a sum that grows as the rush goes on.

TicketType.held_count now holds the seats of its pending and processing
orders, moved in the same transactions that move orders in and out of those
states (core.services.counters.move_held; in SQL, placing a hold adds and a
payment moves held to sold). A read subtracts the pending orders whose hold
lapsed and that the sweep has not closed yet, so a lapsed hold still stops
counting at once. This migration fills the column from the orders and
replaces both functions: same signatures, same answers.
"""

import importlib

from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

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
    WITH lapsed_orders AS (
        SELECT id FROM core_order
         WHERE event_id = p_event AND status = 'pending' AND hold_expires_at <= p_now
        UNION ALL
        SELECT id FROM core_order
         WHERE event_id = p_event AND status = 'pending' AND hold_expires_at IS NULL
    ), lapsed AS (
        SELECT line.ticket_type_id AS id, sum(line.quantity) AS seats
          FROM core_orderline line
          JOIN lapsed_orders o ON o.id = line.order_id
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
        -- Its seats are held now; the types are locked already.
        UPDATE core_tickettype t SET held_count = t.held_count + line.quantity
          FROM jsonb_populate_recordset(NULL::core_orderline, p_lines) AS line
         WHERE t.id = line.ticket_type_id;
        v_verdict := v_verdict || jsonb_build_object('line_ids', v_line_ids);
    END IF;
    RETURN v_verdict;
END
$fn$;
"""

FULFIL_ORDER = """CREATE OR REPLACE FUNCTION core_fulfil_order(
    p_order uuid,
    p_now timestamptz,
    p_nowait boolean,
    p_rows jsonb
) RETURNS text
LANGUAGE plpgsql VOLATILE
AS $fn$
-- p_rows: {"seen": the order as the rows were built from it,
-- {"customer_name", "customer_email", "customer_phone", "lines": {"type id":
-- [quantity, "unit price"]}}; "payment": its row, by column name, without
-- its id; "tickets": theirs; "messages": the outbox rows, without ids;
-- "updated_at"; "stripe_payment_intent_id": recorded unless the order has
-- one (null for none)}. Returns "issued" once it wrote them all, "missing"
-- for no such order, "declined" when it wrote nothing.
DECLARE
    v_order core_order;
    v_line record;
    v_seats integer;
    v_seen jsonb := p_rows -> 'seen';
    v_intent text := p_rows ->> 'stripe_payment_intent_id';
BEGIN
    IF p_nowait THEN
        SELECT * INTO v_order FROM core_order WHERE id = p_order FOR UPDATE NOWAIT;
    ELSE
        SELECT * INTO v_order FROM core_order WHERE id = p_order FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RETURN 'missing';
    END IF;
    -- Order.holds_seats (a pending order without a hold holds nothing: a
    -- NULL here must decline, not pass), and the contact and lines the rows
    -- were built from.
    IF NOT (v_order.status = 'processing'
            OR (v_order.status = 'pending'
                AND coalesce(v_order.hold_expires_at > p_now, false)))
       OR v_order.source = 'waitlist'
       OR v_order.customer_name IS DISTINCT FROM v_seen ->> 'customer_name'
       OR v_order.customer_email IS DISTINCT FROM v_seen ->> 'customer_email'
       OR v_order.customer_phone IS DISTINCT FROM v_seen ->> 'customer_phone'
       OR (SELECT count(*) FROM jsonb_object_keys(v_seen -> 'lines'))
          <> (SELECT count(*) FROM core_orderline WHERE order_id = p_order)
       OR EXISTS (SELECT 1 FROM core_orderline line
                   WHERE line.order_id = p_order
                     AND (v_seen -> 'lines' -> line.ticket_type_id::text)
                         IS DISTINCT FROM
                         jsonb_build_array(line.quantity, line.unit_price::text))
    THEN
        RETURN 'declined';
    END IF;

    -- Recorded unless this payment already is: that repeat is the Python
    -- path's to judge. The id is taken from the column's own sequence.
    INSERT INTO core_payment
    SELECT * FROM jsonb_populate_record(
        NULL::core_payment,
        (p_rows -> 'payment') || jsonb_build_object(
            'id', nextval(pg_get_serial_sequence('core_payment', 'id'))))
    ON CONFLICT (provider, provider_reference) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'declined';
    END IF;

    INSERT INTO core_ticket
    SELECT * FROM jsonb_populate_recordset(NULL::core_ticket, p_rows -> 'tickets');

    UPDATE core_order
       SET status = 'paid',
           paid_at = p_now,
           hold_expires_at = NULL,
           updated_at = (p_rows ->> 'updated_at')::timestamptz,
           stripe_payment_intent_id = CASE
               WHEN v_intent IS NOT NULL AND coalesce(stripe_payment_intent_id, '') = ''
               THEN v_intent ELSE stripe_payment_intent_id END
     WHERE id = p_order;

    INSERT INTO core_outboundmessage
    SELECT message.*
      FROM jsonb_array_elements(p_rows -> 'messages') AS m(value),
           LATERAL jsonb_populate_record(
               NULL::core_outboundmessage,
               m.value || jsonb_build_object(
                   'id', nextval(pg_get_serial_sequence('core_outboundmessage', 'id'))))
               AS message;

    -- The counters last, the event row first, then its types by key: the
    -- order every writer of seats locks them in (core.services.locks).
    SELECT coalesce(sum(quantity), 0) INTO v_seats FROM core_orderline WHERE order_id = p_order;
    UPDATE core_event SET sold_count = sold_count + v_seats WHERE id = v_order.event_id;
    FOR v_line IN SELECT ticket_type_id, quantity FROM core_orderline
                   WHERE order_id = p_order ORDER BY ticket_type_id LOOP
        -- Sold now, no longer held (it was: pending or processing).
        UPDATE core_tickettype SET sold_count = sold_count + v_line.quantity,
                                   held_count = held_count - v_line.quantity
         WHERE id = v_line.ticket_type_id;
    END LOOP;
    RETURN 'issued';
END
$fn$;
"""


def count_held_seats(apps, schema_editor) -> None:
    TicketType = apps.get_model("core", "TicketType")
    OrderLine = apps.get_model("core", "OrderLine")
    held = (
        OrderLine.objects.filter(
            ticket_type=OuterRef("pk"), order__status__in=["pending", "processing"]
        )
        .values("ticket_type")
        .annotate(seats=Sum("quantity"))
        .values("seats")
    )
    TicketType.objects.update(held_count=Coalesce(Subquery(held), 0))


def create_functions(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PLACE_HOLD)
        schema_editor.execute(FULFIL_ORDER)


def restore_functions(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for name, function in (
            ("0013_orders_remember_their_checkout_key", "PLACE_HOLD"),
            ("0014_fulfil_order_in_one_statement", "FULFIL_ORDER"),
        ):
            before = importlib.import_module(f"core.migrations.{name}")
            schema_editor.execute(getattr(before, function))


class Migration(migrations.Migration):
    dependencies = [("core", "0014_fulfil_order_in_one_statement")]

    operations = [
        migrations.AddField(
            model_name="tickettype",
            name="held_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(count_held_seats, migrations.RunPython.noop),
        migrations.RunPython(create_functions, restore_functions),
    ]
