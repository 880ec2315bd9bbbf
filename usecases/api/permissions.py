from rest_framework.permissions import DjangoModelPermissions

from usecases.models import UseCase


class CatalogPermission(DjangoModelPermissions):
    """Every authenticated user reads; writes need the use case model permissions (add/change/delete).

    Actions that are not plain CRUD name their permissions: export is a read (POST only to carry filters),
    import adds and changes (an entry that soft-deletes also needs delete: the service checks it per entry),
    restore and undelete change.
    """

    action_perms = {
        "export": (),
        "import_usecases": ("add", "change"),
        "restore": ("change",),
        "undelete": ("change",),
    }

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        action = getattr(view, "action", None)
        if action in self.action_perms:
            meta = UseCase._meta
            return request.user.has_perms(
                [f"{meta.app_label}.{perm}_{meta.model_name}" for perm in self.action_perms[action]]
            )
        return super().has_permission(request, view)
