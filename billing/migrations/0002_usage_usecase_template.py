from django.db import migrations, models


def backfill(apps, schema_editor):
    """Records metered before the columns existed take their deployment's use case and template."""
    UsageRecord = apps.get_model("billing", "UsageRecord")
    UseCaseDeployment = apps.get_model("deployments", "UseCaseDeployment")
    ids = UsageRecord.objects.exclude(usecase_deployment_id=None).values_list("usecase_deployment_id", flat=True)
    for pk, usecase, template in UseCaseDeployment.objects.filter(pk__in=ids.distinct()).values_list(
        "pk", "usecase_id", "template__slug"
    ):
        UsageRecord.objects.filter(usecase_deployment_id=pk).update(usecase=usecase, template=template)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("deployments", "0007_deployment_usecase_load"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagerecord",
            name="usecase",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="usagerecord",
            name="template",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
