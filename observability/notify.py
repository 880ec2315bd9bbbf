"""Delivering alert notifications: webhooks (generic JSON or Slack-compatible) and e-mail, with back-off."""

from __future__ import annotations

from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from observability.models import Delivery, NotificationChannel

MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 2.0  # 2, 4, 8, 16 s between the attempts
BACKOFF_MAX_S = 300.0
TIMEOUT_S = 5.0


def payload(delivery: Delivery) -> dict:
    if delivery.alert_id is None:  # another app's notification (notification_send): its own subject and body
        if delivery.channel.kind == NotificationChannel.Kind.SLACK:
            return {"text": f":warning: {delivery.subject}. {delivery.body.get('message', '')}".strip()}
        return {"event": delivery.event, "subject": delivery.subject, **delivery.body}
    alert, rule, deployment = delivery.alert, delivery.alert.rule, delivery.alert.deployment
    body = {
        "event": delivery.event,
        "alert": {
            "id": alert.pk,
            "rule": rule.name,
            "kind": rule.kind,
            "severity": rule.severity,
            "state": alert.state,
            "value": alert.value,
            "threshold": alert.threshold,
            "message": alert.message,
            "fired_at": alert.fired_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        },
        "deployment": {"id": str(deployment.pk), "name": deployment.name, "usecase_id": deployment.usecase_id},
    }
    if delivery.channel.kind == NotificationChannel.Kind.SLACK:
        icon = ":red_circle:" if delivery.event == "firing" else ":large_green_circle:"
        return {"text": f"{icon} [{rule.severity}] {deployment.name}: {rule.name} {delivery.event}. {alert.message}"}
    return body


def backoff_seconds(attempts: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempts - 1))


def delivery_attempt(*, delivery_id: int, now: datetime) -> float | None:
    """Try one delivery once; return the seconds to wait before the next try, or None when it is done (sent or
    failed for good)."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("channel", "alert__rule", "alert__deployment")
            .filter(pk=delivery_id, status=Delivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        error = _send(delivery)
        delivery.attempts += 1
        if not error:
            delivery.status, delivery.sent_at, delivery.last_error, delivery.next_attempt_at = "sent", now, "", None
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.last_error, delivery.next_attempt_at = "failed", error, None
        else:
            delivery.last_error = error
            delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(delivery.attempts))
        delivery.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "sent_at"])
    if delivery.status == Delivery.Status.PENDING:
        return backoff_seconds(delivery.attempts)
    return None


def _send(delivery: Delivery) -> str:
    """'' when delivered, else why not."""
    channel = delivery.channel
    target = channel.target or {}
    if channel.kind == NotificationChannel.Kind.EMAIL:
        body = payload(delivery)
        if delivery.alert_id is None:
            subject, message = delivery.subject, body.get("message") or delivery.subject
        else:
            subject = (
                f"[{body['alert']['severity']}] {body['deployment']['name']}: {body['alert']['rule']} {delivery.event}"
            )
            message = body["alert"]["message"] or subject
        try:
            send_mail(subject, message, settings.DEFAULT_FROM_EMAIL, target.get("emails", []))
        except OSError as exc:
            return f"e-mail: {exc}"
        return ""
    try:
        response = requests.post(target.get("url", ""), json=payload(delivery), timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return ""
    return f"HTTP {response.status_code}: {response.text[:200]}"


def deliveries_due(*, now: datetime) -> list[int]:
    """Pending deliveries whose next try is due (a lost task or a restarted worker leaves nothing behind)."""
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
