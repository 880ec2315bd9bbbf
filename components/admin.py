import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from components.models import ComponentDefinition, ComponentVersion


class ComponentVersionInline(admin.TabularInline):
    model = ComponentVersion
    extra = 0
    fields = ["version", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ComponentDefinition)
class ComponentDefinitionAdmin(admin.ModelAdmin):
    """Curation of the registry. System components (from YAML) are read-only here: they change by pull request."""

    list_display = ["id", "name", "category", "deployment_type", "version", "is_active", "is_system", "updated_at"]
    list_filter = ["category", "deployment_type", "is_active", "is_system"]
    search_fields = ["id", "name", "description", "tags_text", "image", "helm_chart"]
    readonly_fields = ["outputs_table", "created_at", "updated_at", "content_hash", "source_file"]
    inlines = [ComponentVersionInline]

    @admin.display(description="outputs")
    def outputs_table(self, obj) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((o["name"], o["protocol"], o["port"], o.get("path", "")) for o in obj.outputs or ()),
        )
        return format_html("<table><tr><th>name</th><th>protocol</th><th>port</th><th>path</th></tr>{}</table>", rows)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_system:
            return [f.name for f in obj._meta.fields] + ["outputs_table"]
        return self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_system)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_system)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.get_internal_type() == "JSONField":
            field.encoder = None
            field.widget.attrs["style"] = "font-family: monospace; width: 60em"
        return field


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=False))
