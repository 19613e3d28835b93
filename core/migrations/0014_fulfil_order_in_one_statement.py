"""core_fulfil_order: on Postgres a payment issues its tickets in one statement.

A payment took ten round trips (the order read, BEGIN, the order's lock, the
payment, the lines, the tickets, the order, the outbox, the counters, COMMIT)
and held the order's lock across all of them, the event's from the counters
to the commit. core.services.fulfilment reads the order and its lines, signs
the tickets and builds every row in Python, then this function locks the
order and, if it is still as read and simply payable, writes them all (ADR
14). Anything else (the hold lapsed, the order settled, a waitlist offer,
the payment recorded already, the order changed since it was read) writes
nothing and answers "declined": the Python path decides those, as before.
"""

from django.db import migrations

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
        UPDATE core_tickettype SET sold_count = sold_count + v_line.quantity
         WHERE id = v_line.ticket_type_id;
    END LOOP;
    RETURN 'issued';
END
$fn$;
"""

DROP_FULFIL_ORDER = (
    "DROP FUNCTION IF EXISTS core_fulfil_order(uuid, timestamptz, boolean, jsonb);"
)


def create_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FULFIL_ORDER)


def drop_function(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FULFIL_ORDER)


class Migration(migrations.Migration):
    dependencies = [("core", "0013_orders_remember_their_checkout_key")]

    operations = [migrations.RunPython(create_function, drop_function)]
