from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0014_payment_refund_attempts"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="refund_refusal_reason",
            field=models.CharField(blank=True, max_length=255),
        ),
    ]
