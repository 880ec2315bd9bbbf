from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import render
from django.utils.html import format_html, format_html_join

from components.admin import pretty_json
from core.exceptions import ServiceError
from core.exceptions import ValidationError as ServiceValidationError
from templates_app import services
from templates_app.models import TemplateRevision, UseCaseTemplate
from tenancy.models import Tenant


class RevisionInline(admin.TabularInline):
    model = TemplateRevision
    extra = 0
    fields = ["revision", "version", "source", "changed_fields", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-revision"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class UserTemplateForm(forms.ModelForm):
    """Edits a user template through the service: the same validation as the API, and a revision per change."""

    class Meta:
        model = UseCaseTemplate
        fields = [*UseCaseTemplate.CONTENT_FIELDS, "slug"]

    def clean(self):
        cleaned = super().clean()
        content = {"id": cleaned.get("slug") or self.instance.slug}
        content.update({name: cleaned.get(name) for name in UseCaseTemplate.CONTENT_FIELDS})
        try:
            services.template_validate_content(services.template_content(content))
        except ServiceValidationError as exc:
            problems = [f"{path}: {'; '.join(reasons)}" for path, reasons in exc.errors.items()]
            raise forms.ValidationError(problems) from None
        return cleaned


class ForkForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.all())


@admin.register(UseCaseTemplate)
class UseCaseTemplateAdmin(admin.ModelAdmin):
    """Templates: system rows are read-only (they change by pull request); user rows change through the services."""

    form = UserTemplateForm
    list_display = ["slug", "name", "category", "complexity", "version", "is_system", "tenant", "is_active"]
    list_filter = ["category", "complexity", "is_system", "is_active", "tenant"]
    search_fields = ["slug", "name", "description", "tags_text", "id"]
    list_select_related = ["tenant"]
    readonly_fields = [
        "id",
        "tenant",
        "is_system",
        *UseCaseTemplate.PROVENANCE_FIELDS,
        "deleted_at",
        "parameters_table",
        "components_table",
    ]
    inlines = [RevisionInline]
    actions = ["fork"]

    def has_add_permission(self, request) -> bool:
        return False  # created by the YAML sync, the API or the fork action, which record revisions

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_system)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # soft delete only, through the API

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_system:
            return [*self.readonly_fields, "slug", *UseCaseTemplate.CONTENT_FIELDS]
        return self.readonly_fields

    @admin.display(description="parameters")
    def parameters_table(self, obj) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    p["name"],
                    p["type"],
                    p.get("label", ""),
                    "yes" if p.get("required") else "",
                    "" if p["type"] == "secret" else p.get("default", p.get("options", "")),
                )
                for p in obj.parameters or ()
            ),
        )
        return format_html(
            "<table><tr><th>name</th><th>type</th><th>label</th><th>required</th><th>default</th></tr>{}</table>", rows
        )

    @admin.display(description="components")
    def components_table(self, obj) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    c["id"],
                    c["component_ref"],
                    ", ".join(c.get("depends_on") or ()),
                    pretty_json({k: v for k, v in c.items() if k not in ("id", "component_ref", "depends_on")}),
                )
                for c in obj.components or ()
            ),
        )
        return format_html(
            "<table><tr><th>id</th><th>component</th><th>depends on</th><th>settings</th></tr>{}</table>", rows
        )

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in UseCaseTemplate.CONTENT_FIELDS if name in form.cleaned_data}
        fields["slug"] = form.cleaned_data.get("slug")
        original = UseCaseTemplate.objects.get(pk=obj.pk)
        updated = services.template_update(
            user=request.user, template=original, source=TemplateRevision.Source.ADMIN, **fields
        )
        obj.refresh_from_db()
        return updated

    @admin.action(description="Fork into a tenant")
    def fork(self, request, queryset):
        if "apply" in request.POST:
            form = ForkForm(request.POST)
            if form.is_valid():
                done = 0
                for template in queryset:
                    try:
                        services.template_fork(user=request.user, template=template, tenant=form.cleaned_data["tenant"])
                        done += 1
                    except ServiceError as exc:
                        self.message_user(request, f"{template}: {exc.detail} {exc.errors}", messages.ERROR)
                self.message_user(request, f"Forked {done} template(s) into {form.cleaned_data['tenant']}.")
                return None
        else:
            form = ForkForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Fork templates into a tenant",
            "templates": queryset,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return render(request, "admin/templates_app/fork.html", context)
