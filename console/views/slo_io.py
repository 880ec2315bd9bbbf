"""The SLO catalogue's JSON import and export in the console: the same services and format as the API's
`POST /api/usecases/import` and `/export`."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from console.selectors import can_import
from console.views.registry import slo_search_params
from core.exceptions import ServiceError
from usecases import selectors as usecase_selectors
from usecases import services as usecase_services

MAX_IMPORT_BYTES = 20 * 1024 * 1024


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Catalog file (JSON)",
        help_text='A list of use cases or {"usecases": [...]}, '
        "as the export writes it. Entries are matched by unique_id.",
    )
    partial = forms.BooleanField(required=False, label="Import the valid entries and report the others")
    dry_run = forms.BooleanField(required=False, initial=True, label="Dry run: report what would change, write nothing")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB.")
        try:
            return json.loads(upload.read().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise forms.ValidationError(f"Not a JSON file: {error}") from None


@login_required
@require_GET
def slo_export(request):
    """The use cases the list's filters select, as a JSON file in the import format."""
    try:
        data = usecase_selectors.usecases_export(**slo_search_params(request.GET))
    except ServiceError as error:
        return JsonResponse({"detail": error.detail, "errors": error.errors}, status=400)
    response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="usecases-{timezone.now():%Y%m%d-%H%M%S}.json"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def slo_import(request):
    """Upload a catalog file: a dry run by default (what would be created, updated, unchanged, refused), then the
    import itself; all-or-nothing unless "partial" is ticked."""
    allowed = can_import(request.user)
    if request.method == "POST" and not allowed:
        raise PermissionDenied("Importing needs the permissions to add and change use cases.")
    form = ImportForm(request.POST or None, request.FILES or None)
    report, rejected, status = None, False, 200
    if request.method == "POST":
        if form.is_valid():
            try:
                report = usecase_services.usecases_import(
                    data=form.cleaned_data["file"],
                    partial=form.cleaned_data["partial"],
                    dry_run=form.cleaned_data["dry_run"],
                    user=request.user,
                )
            except usecase_services.ImportRejected as error:
                report, rejected, status = error.report, True, 400
            except ServiceError as error:
                form.add_error(
                    "file", [f"{path}: {' '.join(messages)}" for path, messages in error.errors.items()] or error.detail
                )
                status = 400
        else:
            status = 400
    context = {"form": form, "report": report, "rejected": rejected, "allowed": allowed}
    return render(request, "console/slo/import.html", context, status=status)
