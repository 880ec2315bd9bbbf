"""What the job layer tells the apps above it, without importing them (they import the job layer)."""

from django.dispatch import Signal

# Sent (with `cluster`) after a cluster stopped being ACTIVE and its cluster sets took back the jobs waiting there:
# the deployments app places again, through their set, the deployments that have not started there.
cluster_went_away = Signal()
