from rest_framework import serializers

from components.models import ComponentDefinition


class ComponentOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    protocol = serializers.CharField()
    port = serializers.IntegerField()
    path = serializers.CharField(required=False)
    description = serializers.CharField(required=False)


class ComponentInputSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(required=False)


class ComponentDefinitionSerializer(serializers.ModelSerializer):
    outputs = ComponentOutputSerializer(many=True, read_only=True)
    required_inputs = ComponentInputSerializer(many=True, read_only=True)
    aliases = serializers.ListField(child=serializers.CharField(), read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ComponentDefinition
        # The API shows a definition's content exactly as the YAML declares it, plus its bookkeeping.
        fields = [
            "id",
            *ComponentDefinition.CONTENT_FIELDS,
            "is_active",
            "is_system",
            "source_file",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
