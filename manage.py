#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.core.management import execute_from_command_line

    from audit.context import audit_context

    # Writes a command makes are audited as the operating-system user running it; only the command's name is kept
    # (its arguments may carry secrets).
    with audit_context(source="command", command=" ".join(sys.argv[1:2]) or "manage.py"):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
