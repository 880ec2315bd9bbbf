import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from components import services
from components.models import ComponentDefinition, ComponentVersion
from core.exceptions import ValidationError as ServiceValidationError


class ComponentVersionInline(admin.TabularInline):
    model = ComponentVersion
    extra = 0
    fields = ["version", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class CuratedComponentForm(forms.ModelForm):
    """A curated component's content, validated by the services as a YAML file would be."""

    class Meta:
        model = ComponentDefinition
        fields = ["id", *ComponentDefinition.CONTENT_FIELDS, "is_active"]

    def content(self) -> dict:
        """The submitted content, complete: an empty field stands for a key the YAML file leaves out."""
        data = {"id": self.cleaned_data["id"] if "id" in self.fields else self.instance.pk}
        for name in ComponentDefinition.CONTENT_FIELDS:
            if self.cleaned_data.get(name) is not None:
                data[name] = self.cleaned_data[name]
        return services.component_content(data)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            services.component_validate_content(
                self.content(), definition=None if "id" in self.fields else self.instance
            )
        except ServiceValidationError as exc:
            for path, reasons in exc.errors.items():
                name = path.split(".")[0]
                self.add_error(name if name in self.fields else None, [f"{path}: {reason}" for reason in reasons])
        return cleaned


@admin.register(ComponentDefinition)
class ComponentDefinitionAdmin(admin.ModelAdmin):
    """Curation of the registry. System components (from YAML) are read-only here: they change by pull request.

    Curated components are added and changed through the services, as the YAML sync writes system ones: the same
    validation, derived columns (tags_text, content_hash) and a ComponentVersion per version; they are never
    system rows, so a prune leaves them alone."""

    form = CuratedComponentForm

    list_display = ["id", "name", "category", "deployment_type", "version", "is_active", "is_system", "updated_at"]
    list_filter = ["category", "deployment_type", "is_active", "is_system"]
    search_fields = ["id", "name", "description", "tags_text", "image", "helm_chart"]
    readonly_fields = ["is_system", "outputs_table", "created_at", "updated_at", "content_hash", "source_file"]
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
        if obj is not None:
            return ["id", *self.readonly_fields]  # the primary key: a new id would be a new component
        return self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_system)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_system)

    def save_model(self, request, obj, form, change):
        is_active = form.cleaned_data.get("is_active", True)
        if change:
            services.component_update(definition=obj, data=form.content(), is_active=is_active)
        else:
            services.component_create(data=form.content(), is_active=is_active)
        obj.refresh_from_db()

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.get_internal_type() == "JSONField":
            field.encoder = None
            field.widget.attrs["style"] = "font-family: monospace; width: 60em"
        return field


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=False))
