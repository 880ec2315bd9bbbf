from django.utils import timezone
from rest_framework import serializers

from billing.metering import floor_minute
from billing.models import PriceList
from jobs.models import Cluster
from tenancy.api.viewsets import ScopedPrimaryKeyRelatedField


class PriceListSerializer(serializers.ModelSerializer):
    cluster_id = ScopedPrimaryKeyRelatedField(queryset=Cluster.objects.all(), source="cluster")
    prices = serializers.JSONField(
        help_text='The whole list: {"gpu_hour": {"H100-80GB": 2.5}, "cpu_hour": 0.02, "memory_gib_hour": 0.003}'
    )
    effective_from = serializers.DateTimeField(
        help_text="A whole minute (seconds zero), now or later: metered usage keeps the prices it was metered at."
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PriceList
        fields = ["id", "cluster_id", "prices", "effective_from", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]
        validators = []  # one list per moment is answered by the service, on effective_from

    def validate_effective_from(self, value):
        if value < floor_minute(timezone.now()):
            raise serializers.ValidationError("A price change cannot start in the past: that usage is metered.")
        return value
