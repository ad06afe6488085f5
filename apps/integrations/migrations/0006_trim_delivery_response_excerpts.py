"""Delivery attempts keep only the first 256 characters of a receiver's answer (they kept 1000): what was stored
before is cut to the same length, since the longer excerpts could carry what a private host answered."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("integrations", "0005_test_receiver")]

    operations = [
        migrations.RunSQL(
            "UPDATE integrations_deliveryattempt SET response_excerpt = left(response_excerpt, 256) "
            "WHERE length(response_excerpt) > 256",
            migrations.RunSQL.noop,
        )
    ]
