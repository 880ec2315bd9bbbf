"""Curation UI for the catalog. Every change goes through usecases.services, so it is versioned and invalidates
the caches exactly as an API write does."""

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse

from core.exceptions import ValidationError
from usecases import profiles, selectors, services
from usecases.industries import industry_spellings
from usecases.models import UseCase, UseCaseCache, UseCaseTag, UseCaseVersion
from usecases.validation import SNAPSHOT_FIELDS, clean_usecase


class _ProfileFilter(admin.SimpleListFilter):
    names: tuple[str, ...] = ()
    to_q = None

    def lookups(self, request, model_admin):
        return [(name, name) for name in self.names]

    def queryset(self, request, queryset):
        return queryset.filter(type(self).to_q(self.value())) if self.value() else queryset


class LatencyProfileFilter(_ProfileFilter):
    title = "latency profile"
    parameter_name = "latency_profile"
    names = profiles.LATENCY_PROFILE_NAMES
    to_q = staticmethod(profiles.latency_profile_q)


class InputLengthProfileFilter(_ProfileFilter):
    title = "input length profile"
    parameter_name = "input_length_profile"
    names = profiles.INPUT_LENGTH_PROFILE_NAMES
    to_q = staticmethod(profiles.input_length_profile_q)


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        return [(row["tag"], f"{row['tag']} ({row['count']})") for row in selectors.tag_list(limit=50)]

    def queryset(self, request, queryset):
        return queryset.filter(tags__name=self.value()) if self.value() else queryset


class UseCaseVersionInline(admin.TabularInline):
    model = UseCaseVersion
    extra = 0
    can_delete = False
    fields = ["version", "kind", "created_by", "created_at", "snapshot"]
    readonly_fields = fields
    ordering = ["-version"]

    def has_add_permission(self, request, obj=None):
        return False


class UseCaseAdminForm(forms.ModelForm):
    tags = forms.CharField(required=False, help_text="Comma-separated.")

    class Meta:
        model = UseCase
        fields = [field for field in SNAPSHOT_FIELDS if field != "tags"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tags"].initial = ", ".join(self.instance.tag_names)
            self.fields["unique_id"].disabled = True

    def clean(self):
        cleaned = super().clean()
        data = {field: cleaned.get(field) for field in SNAPSHOT_FIELDS if field in cleaned}
        if self.instance.pk:
            data["unique_id"] = self.instance.unique_id
        try:
            clean_usecase(data, industries=industry_spellings())
        except ValidationError as exc:
            for field, errors in exc.errors.items():
                self.add_error(field if field in self.fields else None, errors)
        if not self.instance.pk and UseCase.objects.filter(unique_id=data.get("unique_id")).exists():
            self.add_error("unique_id", "A use case with this unique_id already exists.")
        return cleaned

    def _post_clean(self):
        # The service validates (the same rules as clean() above) and writes; the model's own checks would
        # only repeat them with other messages.
        pass


@admin.register(UseCase)
class UseCaseAdmin(admin.ModelAdmin):
    form = UseCaseAdminForm
    list_display = [
        "unique_id",
        "name",
        "industry",
        "latency_profile",
        "input_length_profile",
        "input_tokens_max",
        "e2e_max",
        "is_active",
        "version",
        "updated_at",
    ]
    list_filter = ["is_active", "industry", LatencyProfileFilter, InputLengthProfileFilter, TagFilter]
    search_fields = ["unique_id", "name", "description", "industry"]
    readonly_fields = ["is_active", "version", "created_at", "updated_at"]
    inlines = [UseCaseVersionInline]
    actions = ["soft_delete", "undelete", "export_json"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tags")

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data.get(field) for field in SNAPSHOT_FIELDS if field in form.cleaned_data}
        if change:
            saved = services.usecase_update(usecase=obj, data=data, user=request.user)
        else:
            saved = services.usecase_create(data=data, user=request.user)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # Tags are saved by the service; the versions inline is read-only, so its formsets save nothing.
        for formset in formsets:
            formset.save()

    def delete_model(self, request, obj):
        services.usecase_delete(usecase=obj, hard=True)

    def delete_queryset(self, request, queryset):
        for usecase in queryset:
            services.usecase_delete(usecase=usecase, hard=True)

    @admin.action(description="Soft-delete selected usecases", permissions=["delete"])
    def soft_delete(self, request, queryset):
        count = 0
        for usecase in queryset.filter(is_active=True):
            services.usecase_delete(usecase=usecase)
            count += 1
        self.message_user(request, f"Soft-deleted {count} use case(s).")

    @admin.action(description="Restore (undelete) selected usecases", permissions=["change"])
    def undelete(self, request, queryset):
        count = 0
        for usecase in queryset.filter(is_active=False):
            services.usecase_undelete(usecase=usecase)
            count += 1
        self.message_user(request, f"Restored {count} use case(s).")

    @admin.action(description="Export selected use cases as JSON")
    def export_json(self, request, queryset):
        body = json.dumps(selectors.usecases_export(queryset=queryset.order_by("name", "unique_id")), indent=2)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="usecases.json"'
        return response


@admin.register(UseCaseVersion)
class UseCaseVersionAdmin(admin.ModelAdmin):
    list_display = ["usecase", "version", "kind", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["usecase__unique_id", "usecase__name"]
    list_select_related = ["usecase", "created_by"]
    readonly_fields = ["usecase", "version", "kind", "snapshot", "created_by", "created_at"]
    actions = ["restore_version"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Restore this version (recorded as a new version)")
    def restore_version(self, request, queryset):
        if not request.user.has_perm("usecases.change_usecase"):
            self.message_user(request, "You may not change use cases.", messages.ERROR)
            return
        for version in queryset.select_related("usecase"):
            services.usecase_restore_version(usecase=version.usecase, version=version.version, user=request.user)
        self.message_user(request, f"Restored {queryset.count()} version(s).")


@admin.register(UseCaseCache)
class UseCaseCacheAdmin(admin.ModelAdmin):
    list_display = ["usecase", "key", "expires_at", "created_at"]
    search_fields = ["usecase__unique_id", "key"]
    list_select_related = ["usecase"]


admin.site.register(UseCaseTag, list_display=["name", "usecase"], search_fields=["name"], list_select_related=True)
