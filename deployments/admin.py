from django.contrib import admin

from deployments import services
from deployments.models import ComponentDeployment, DeploymentEvent, UseCaseDeployment


class ComponentInline(admin.TabularInline):
    model = ComponentDeployment
    extra = 0
    can_delete = False
    fields = ["key", "attempt", "status", "status_message", "job", "outputs", "retired_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class EventInline(admin.TabularInline):
    model = DeploymentEvent
    extra = 0
    can_delete = False
    fields = ["id", "created_at", "kind", "message"]
    readonly_fields = fields
    ordering = ["-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(UseCaseDeployment)
class UseCaseDeploymentAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "template", "template_version", "tenant", "project", "cluster", "created_at"]
    list_filter = ["status", "tenant", "cluster", "template"]
    search_fields = ["name", "id", "status_message"]
    list_select_related = ["template", "tenant", "project", "cluster"]
    readonly_fields = [f.name for f in UseCaseDeployment._meta.fields]
    inlines = [ComponentInline, EventInline]
    actions = ["delete_deployments"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # history is kept: use the "Delete deployments" action, which stops the components

    @admin.action(description="Delete deployments (stop their components)")
    def delete_deployments(self, request, queryset):
        done = 0
        for deployment in queryset:
            try:
                services.deployment_delete(user=request.user, deployment=deployment)
                done += 1
            except Exception as exc:
                self.message_user(request, f"{deployment}: {exc}", level="warning")
        self.message_user(request, f"Deletion started for {done} deployment(s).")


@admin.register(ComponentDeployment)
class ComponentDeploymentAdmin(admin.ModelAdmin):
    list_display = ["deployment", "key", "attempt", "status", "job", "retired_at"]
    list_filter = ["status"]
    search_fields = ["key", "deployment__name", "deployment__id"]
    list_select_related = ["deployment", "job"]
    readonly_fields = [f.name for f in ComponentDeployment._meta.fields]


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(admin.ModelAdmin):
    list_display = ["id", "deployment", "kind", "message", "created_at"]
    list_filter = ["kind"]
    search_fields = ["message", "deployment__name"]
    list_select_related = ["deployment"]
    readonly_fields = [f.name for f in DeploymentEvent._meta.fields]
