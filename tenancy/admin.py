"""Admin for tenants, projects and memberships. Role changes and removals go through tenancy.services, so the
admin site keeps the API's rule: a tenant keeps at least one admin (refused with a message, never a 500)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.forms.models import BaseInlineFormSet
from django.shortcuts import redirect

from tenancy import services
from tenancy.models import Membership, Project, Tenant
from tenancy.selectors import removal_loses_last_admin, tenant_loses_last_admin


class MembershipInlineForm(forms.ModelForm):
    """A row of the tenant page: the user of an existing membership is fixed, its role can change."""

    class Meta:
        model = Membership
        fields = ["user", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["user"].disabled = True
            # A group-made row follows the identity provider: sign-in sets its role.
            self.fields["role"].disabled = self.instance.source == Membership.Source.GROUPS


class MembershipInlineFormSet(BaseInlineFormSet):
    """Refuses a submission whose deletions and demotions would leave the tenant without an admin."""

    def clean(self):
        super().clean()
        if any(self.errors) or self.instance.pk is None:
            return
        losing, gaining = [], False
        for form in self.forms:
            if not hasattr(form, "cleaned_data"):
                continue
            removed = self.can_delete and self._should_delete_form(form)
            if removed and form.instance.source == Membership.Source.GROUPS:
                raise forms.ValidationError(services.MAPPED)
            is_admin = not removed and form.cleaned_data.get("role") == Membership.Role.ADMIN
            if form.instance.pk and not is_admin:
                losing.append(form.instance.pk)
            gaining = gaining or (is_admin and form.has_changed())
        if tenant_loses_last_admin(tenant_id=self.instance.pk, losing=losing, gaining=gaining):
            raise forms.ValidationError(services.LAST_ADMIN)


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipInlineForm
    formset = MembershipInlineFormSet
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["source"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_at"]
    search_fields = ["name", "id"]
    list_filter = ["created_at"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [MembershipInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        rows = formset.save(commit=False)
        # Admins first, so a swap (promote one, demote another) never passes through a tenant with no admin.
        for membership in sorted(rows, key=lambda row: row.role != Membership.Role.ADMIN):
            if membership.pk is None:
                membership.save()
            else:
                services.membership_set_role(membership=membership, role=membership.role)
        if formset.deleted_objects:
            services.membership_delete(memberships=formset.deleted_objects)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "id", "created_at"]
    search_fields = ["name", "id", "tenant__name"]
    list_filter = ["tenant", "created_at"]
    list_select_related = ["tenant"]
    readonly_fields = ["id", "created_at", "updated_at"]


class MembershipAdminForm(forms.ModelForm):
    """Shows the last-admin refusal on the role field instead of failing on save."""

    class Meta:
        model = Membership
        fields = ["user", "tenant", "role"]

    def clean(self):
        cleaned = super().clean()
        membership = self.instance
        if (
            membership.pk
            and cleaned.get("role") != Membership.Role.ADMIN
            and tenant_loses_last_admin(tenant_id=membership.tenant_id, losing=[membership.pk])
        ):
            self.add_error("role", services.LAST_ADMIN)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "tenant", "role", "source", "created_at"]
    search_fields = ["user__username", "tenant__name"]
    list_filter = ["role", "source", "tenant"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]
    actions = ["delete_selected"]

    def get_readonly_fields(self, request, obj=None):
        # A membership is a (user, tenant) pair: once made, only its role changes, and only a hand-made one's.
        if obj is not None and obj.source == Membership.Source.GROUPS:
            return ["user", "tenant", "role", "source"]
        return ["user", "tenant", "source"] if obj is not None else ["source"]

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.source == Membership.Source.MANUAL)

    def save_model(self, request, obj, form, change):
        if change:
            services.membership_set_role(membership=obj, role=obj.role)
        else:
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        services.membership_delete(memberships=[obj])

    def delete_queryset(self, request, queryset):
        services.membership_delete(memberships=list(queryset))

    def delete_view(self, request, object_id, extra_context=None):
        membership = self.get_object(request, unquote(object_id))
        if membership is not None and removal_loses_last_admin([membership]):
            self.message_user(request, services.LAST_ADMIN, messages.ERROR)
            return redirect("admin:tenancy_membership_change", membership.pk)
        return super().delete_view(request, object_id, extra_context)

    @admin.action(permissions=["delete"], description="Delete selected memberships")
    def delete_selected(self, request, queryset):
        if queryset.filter(source=Membership.Source.GROUPS).exists():
            self.message_user(request, services.MAPPED, messages.ERROR)
            return None
        if removal_loses_last_admin(queryset):
            self.message_user(request, services.LAST_ADMIN, messages.ERROR)
            return None
        return django_delete_selected(self, request, queryset)
