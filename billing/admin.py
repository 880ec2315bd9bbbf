from django.contrib import admin

from billing.models import PriceList, UsageRecord


@admin.register(PriceList)
class PriceListAdmin(admin.ModelAdmin):
    list_display = ["cluster", "effective_from", "created_by", "created_at"]
    list_select_related = ["cluster", "created_by"]
    readonly_fields = ["created_by", "created_at"]


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = ["job", "minute", "seconds", "gpu_type", "gpu_amount", "cpu_amount", "memory_amount"]
    list_select_related = ["job"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False
