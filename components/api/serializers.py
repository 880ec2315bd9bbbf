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
        fields = [
            "id",
            "name",
            "description",
            "category",
            "version",
            "deployment_type",
            "job_type",
            "helm_repo",
            "helm_chart",
            "helm_version",
            "default_values",
            "image",
            "image_tag",
            "port",
            "default_env",
            "config_env",
            "default_resources",
            "required_inputs",
            "outputs",
            "health_check_path",
            "aliases",
            "tags",
            "is_active",
            "is_system",
            "source_file",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
