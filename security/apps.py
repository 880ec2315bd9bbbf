from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save


def _user_saved(sender, instance, update_fields=None, created=False, **kwargs):
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a new user has no token yet; a sign-in changes nothing a token check reads
    from security.services import user_token_cache_drop

    user_token_cache_drop(user_id=instance.pk)


def _token_changed(sender, instance, **kwargs):
    # Also on creation: a key's digest cached by a request whose transaction rolled back never outlives a new row.
    from security.services import token_cache_drop

    token_cache_drop(digests=[instance.digest])


class SecurityConfig(AppConfig):
    """API tokens, tenant service accounts, rate limits and login protection."""

    name = "security"

    def ready(self):
        # Cache coherence, not business logic: a token check reads its token and user from the cache
        # (security.services.token_authenticate), so any write to either row (the admin's forms, a deletion and its
        # cascade, a service) must drop the cached copy at once, whichever code path made it.
        from security.models import ApiToken

        post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="security.user_saved")
        post_delete.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="security.user_deleted")
        post_save.connect(_token_changed, sender=ApiToken, dispatch_uid="security.token_saved")
        post_delete.connect(_token_changed, sender=ApiToken, dispatch_uid="security.token_deleted")
