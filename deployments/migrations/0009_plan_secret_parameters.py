# Stored plans name their secret parameters (templates_app.plans.Plan.to_stored_dict), so responses mask by name.
# Plans stored before that get the names once here: a secret parameter that was set shows as the mask in the
# plan's public parameters (an unset one has no value to hide).

from django.db import migrations

MASK = "********"


def name_secrets(apps, schema_editor):
    for model_name in ("UseCaseDeployment", "DeploymentRevision"):
        model = apps.get_model("deployments", model_name)
        changed = []
        for row in model.objects.only("pk", "plan").iterator():
            plan = row.plan or {}
            if "secret_parameters" in plan or "parameters" not in plan:
                continue
            plan["secret_parameters"] = [name for name, value in plan["parameters"].items() if value == MASK]
            row.plan = plan
            changed.append(row)
        model.objects.bulk_update(changed, ["plan"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0008_event_kind_choices"),
    ]

    operations = [
        migrations.RunPython(name_secrets, migrations.RunPython.noop),
    ]
