from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.AutoField(primary_key=True)),
                ("name", models.CharField(max_length=64, db_default="")),
                ("amount", models.DecimalField(max_digits=12, decimal_places=2, null=True)),
                ("blob", models.BinaryField(max_length=64, null=True)),
            ],
        ),
    ]
