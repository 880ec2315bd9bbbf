"""The Kubernetes driver (see driver.py); connection and inventory in connection.py."""

from jobs.drivers.kubernetes.driver import KubernetesDriver

__all__ = ["KubernetesDriver"]
