from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone

# A Stripe payment page lasts at most a day: an order placed longer ago
# and closed here has nothing left that Stripe could still be paid on.
LOOK_BACK = timedelta(days=1)


def ask_about_open_stripe_orders(apps, schema_editor):
    """Orders already on Stripe when this arrives are asked about at once:
    the unsettled ones, and those closed here in the last day whose page may
    have been paid while the webhook did not come."""
    Order = apps.get_model("core", "Order")
    now = timezone.now()
    on_stripe = Order.objects.filter(stripe_checkout_session_id__isnull=False)
    on_stripe.filter(status__in=("pending", "processing")).update(stripe_check_at=now)
    on_stripe.filter(
        status__in=("expired", "cancelled"), created_at__gte=now - LOOK_BACK
    ).update(stripe_check_at=now)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0021_place_hold_reads_lapsed_lines_by_order"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="stripe_check_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=models.Q(
                    ("status__in", ("pending", "processing", "expired", "cancelled")),
                    ("stripe_check_at__isnull", False),
                ),
                fields=["stripe_check_at"],
                name="order_stripe_check_due",
            ),
        ),
        migrations.RunPython(ask_about_open_stripe_orders, migrations.RunPython.noop),
    ]
