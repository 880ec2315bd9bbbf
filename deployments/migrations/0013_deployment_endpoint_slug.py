from django.db import migrations, models


def name_endpoints(apps, schema_editor):
    """Every deployment made before endpoints existed gets its slug (<name>-<id prefix>), as save() gives new ones."""
    deployment_model = apps.get_model("deployments", "UseCaseDeployment")
    rows = deployment_model.objects.filter(endpoint_slug__isnull=True).only("pk", "name")
    batch = []
    for row in rows.iterator(chunk_size=1000):
        row.endpoint_slug = f"{row.name}-{row.pk.hex[:8]}"
        batch.append(row)
        if len(batch) == 1000:
            deployment_model.objects.bulk_update(batch, ["endpoint_slug"])
            batch = []
    deployment_model.objects.bulk_update(batch, ["endpoint_slug"])


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0012_component_scaled_to_zero"),
    ]

    operations = [
        migrations.AddField(
            model_name="usecasedeployment",
            name="endpoint_slug",
            field=models.SlugField(
                editable=False,
                help_text="The stable entry point's name (<name>-<id prefix>): the same through updates, rollbacks, "
                "scaling.",
                max_length=63,
                null=True,
                unique=True,
            ),
        ),
        migrations.RunPython(name_endpoints, migrations.RunPython.noop, elidable=True),
    ]
