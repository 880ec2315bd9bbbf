"""The catalog's search and list filters (GET /api/usecases, /search, POST /export, selectors.usecase_search).

`q` is full-text search on PostgreSQL (English stemming, web-search syntax, the stored document of migration 0003) with
the last word also matched as a prefix ("Patient Summ"), and a substring match elsewhere; on both, a unique_id
matches exactly or by its start.

Range filters mean overlap, as a user sizing a deployment expects: `min_input_tokens=x` keeps use cases whose
`input_tokens_max >= x`, `max_input_tokens=x` those whose `input_tokens_min <= x` (the same for output tokens);
`max_e2e_latency=x` keeps those whose `e2e_min <= x` (a use case with only `e2e_max` counts from it), and the same
for `max_ttft` and `max_inter_token_latency`. Use cases without that SLO do not match a latency filter.
"""

from __future__ import annotations

import copy
import re

import django_filters
from django.conf import settings
from django.db.models import BooleanField, Exists, F, FloatField, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.http import QueryDict

from core.filters import CreatedRangeFilterSet
from usecases import profiles
from usecases.industries import industry_spellings
from usecases.models import NUMERIC_FIELDS, UseCase, UseCaseTag
from usecases.validation import UNIQUE_ID_RE, industry_key, normalise_industry, normalise_tag

SORT_FIELDS = ("name", "unique_id", "industry", *NUMERIC_FIELDS, "created_at", "updated_at")
SEARCH_CONFIG = "english"
# A plain last word (not quoted, not negated with "-"): the one `q` also matches as a prefix.
LAST_WORD_RE = re.compile(r"(?:^|\s)([^\W_]+)$")
OR_RE = re.compile(r"\sor\s", re.IGNORECASE)


def text_query_sql(value: str) -> tuple[str, list[str]]:
    """The tsquery for `q`, as SQL and its parameters: web-search syntax, or the same with its last word as a prefix
    ("patient summ").

    Written directly rather than through SearchQuery/SearchRank: the ORM resolved those per request (~0.3 ms of a
    `q` search's Python). The SQL is what the ORM wrote (websearch_to_tsquery, to_tsquery, `||`, `&&`, the same
    parentheses), so matches and ranks are unchanged. The prefix word is letters and digits only and quoted, so
    nothing the user types reaches to_tsquery's syntax.
    """
    websearch = "websearch_to_tsquery(%s::regconfig, %s)"
    last = LAST_WORD_RE.search(value)
    if last is None:
        return websearch, [SEARCH_CONFIG, value]
    prefix, prefix_params = "to_tsquery(%s::regconfig, %s)", [SEARCH_CONFIG, f"'{last.group(1)}':*"]
    head = value[: last.start(1)]
    # In web-search syntax AND binds tighter than "or": the last word goes with the words after the last "or".
    for match in reversed(list(OR_RE.finditer(head))):
        if head[: match.start()].count('"') % 2 == 0:
            head = head[match.end() :]
            break
    if head.strip():
        prefix, prefix_params = f"({websearch} && {prefix})", [SEARCH_CONFIG, head.strip(), *prefix_params]
    return f"({websearch} || {prefix})", [SEARCH_CONFIG, value, *prefix_params]


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class SharedFields(dict):
    """A form class's fields, shared by its forms: Django deep-copies them into every form so that one may change
    its own; the filter forms never do (they only clean the query string), and the copy cost a search ~1 ms."""

    def __deepcopy__(self, memo):
        return dict(self)


class UseCaseFilterSet(CreatedRangeFilterSet):
    q = django_filters.CharFilter(
        method="filter_q",
        help_text="Text in name and description (the last word also as a prefix), or a unique_id or its start.",
    )
    industry = django_filters.CharFilter(
        method="filter_industry", help_text="Industry (any case and spacing); comma-separated for several."
    )
    tags = django_filters.CharFilter(
        method="filter_tags", help_text="Comma-separated tags; a use case must carry all of them (see tags_mode)."
    )
    tags_mode = django_filters.ChoiceFilter(
        choices=[("all", "all"), ("any", "any")], method="filter_noop", help_text="all (default) or any."
    )
    min_input_tokens = django_filters.NumberFilter(
        field_name="input_tokens_max", lookup_expr="gte", min_value=0, help_text="Keeps input_tokens_max >= x."
    )
    max_input_tokens = django_filters.NumberFilter(
        field_name="input_tokens_min", lookup_expr="lte", min_value=0, help_text="Keeps input_tokens_min <= x."
    )
    min_output_tokens = django_filters.NumberFilter(
        field_name="output_tokens_max", lookup_expr="gte", min_value=0, help_text="Keeps output_tokens_max >= x."
    )
    max_output_tokens = django_filters.NumberFilter(
        field_name="output_tokens_min", lookup_expr="lte", min_value=0, help_text="Keeps output_tokens_min <= x."
    )
    max_e2e_latency = django_filters.NumberFilter(
        field_name="e2e", method="filter_max_latency", min_value=0, help_text="Seconds; keeps e2e_min <= x."
    )
    max_ttft = django_filters.NumberFilter(
        field_name="ttft", method="filter_max_latency", min_value=0, help_text="Seconds; keeps ttft_min <= x."
    )
    max_inter_token_latency = django_filters.NumberFilter(
        field_name="inter_token",
        method="filter_max_latency",
        min_value=0,
        help_text="Seconds; keeps inter_token_min <= x.",
    )
    latency_profile = django_filters.MultipleChoiceFilter(
        choices=[(name, name) for name in profiles.LATENCY_PROFILE_NAMES],
        method="filter_latency_profile",
        help_text="real-time (e2e_max <= 2 s), interactive (<= 5 s), responsive (<= 10 s), batch.",
    )
    input_length_profile = django_filters.MultipleChoiceFilter(
        choices=[(name, name) for name in profiles.INPUT_LENGTH_PROFILE_NAMES],
        method="filter_input_length_profile",
        help_text="short (input_tokens_max <= 1,000), medium (<= 10,000), long.",
    )
    include_inactive = django_filters.BooleanFilter(
        method="filter_noop", help_text="Also list soft-deleted use cases (default false)."
    )
    sort_by = django_filters.ChoiceFilter(
        choices=[(name, name) for name in SORT_FIELDS], method="filter_noop", help_text="Sort field (default name)."
    )
    sort_order = django_filters.ChoiceFilter(
        choices=[("asc", "asc"), ("desc", "desc")], method="filter_noop", help_text="asc (default) or desc."
    )

    class Meta:
        model = UseCase
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # Profiles also come comma-separated (latency_profile=real-time,interactive), as tags and industry do.
        if data is not None and hasattr(data, "getlist"):
            data = data.copy()
            for name in ("latency_profile", "input_length_profile"):
                values = [part for value in data.getlist(name) for part in _csv(value)]
                if values:
                    data.setlist(name, values)
        elif isinstance(data, dict):
            data = dict(data)
            for name in ("latency_profile", "input_length_profile"):
                if isinstance(data.get(name), str):
                    data[name] = _csv(data[name])
        # django_filters.FilterSet.__init__, but without its deep copy of every filter (and of the form field each
        # one caches), a tenth of a search request's CPU: an instance only needs its own `parent` and `model` on
        # each filter, so a shallow copy does, with the filter's method re-bound to that copy.
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {}
        for name, base in self.base_filters.items():
            filter_ = copy.copy(base)
            if filter_.method is not None:
                filter_.method = filter_.method  # a FilterMethod of this copy, not of the class's filter
            filter_.model, filter_.parent = queryset.model, self
            self.filters[name] = filter_

    def get_form_class(self):
        # The form's fields depend on the class's filters only: django-filter builds a new form class (18 fields)
        # per request; build it once, with fields its forms share instead of deep-copying (SharedFields).
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            form_class = super().get_form_class()
            form_class.base_fields = SharedFields(form_class.base_fields)
            cls._form_class = form_class
        return cls._form_class

    @property
    def qs(self):
        queryset = super().qs
        cleaned = self.form.cleaned_data
        if not cleaned.get("include_inactive"):
            queryset = queryset.filter(is_active=True)
        sort_by = cleaned.get("sort_by")
        descending = cleaned.get("sort_order") == "desc"
        if sort_by:
            key = F(sort_by).desc(nulls_last=True) if descending else F(sort_by).asc(nulls_last=True)
            return queryset.order_by(key, "-unique_id" if descending else "unique_id")
        if (cleaned.get("q") or "").strip() and settings.IS_POSTGRES:
            return queryset.order_by("-rank", "name", "unique_id")
        return queryset.order_by("-name" if descending else "name", "-unique_id" if descending else "unique_id")

    def filter_noop(self, queryset, name, value):
        return queryset

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # A unique_id matches too, exactly or by its start (q=healthcare_0), through the unique_id pattern index.
        ids = sorted({value, value.lower()}) if UNIQUE_ID_RE.match(value) else []
        by_id = Q()
        for unique_id in ids:
            by_id |= Q(unique_id__startswith=unique_id)
        if settings.IS_POSTGRES:
            # The stored tsvector of migration 0003 (GIN-indexed). Columns unqualified, as the tags filter's: they
            # resolve to the use case table in a subquery too, where the ORM renames the table's alias.
            tsquery, params = text_query_sql(value)
            matches = RawSQL(f"search_document @@ {tsquery}", params, BooleanField())
            rank_sql, rank_params = f"ts_rank(search_document, {tsquery})", list(params)
            if ids:  # the usecase named exactly comes first
                listed = ", ".join(["%s"] * len(ids))
                rank_sql = f"({rank_sql} + CASE WHEN unique_id IN ({listed}) THEN %s ELSE %s END)"
                rank_params += [*ids, 1.0, 0.0]
            return queryset.filter(Q(matches) | by_id).annotate(rank=RawSQL(rank_sql, rank_params, FloatField()))
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value) | by_id)

    def filter_industry(self, queryset, name, value):
        known = industry_spellings()
        wanted = {known.get(industry_key(part), normalise_industry(part)) for part in _csv(value)}
        return queryset.filter(industry__in=wanted) if wanted else queryset

    def filter_tags(self, queryset, name, value):
        tags = sorted({normalise_tag(tag) for tag in _csv(value)} - {""})
        if not tags:
            return queryset
        any_tag = self.form.cleaned_data.get("tags_mode") == "any"
        if settings.IS_POSTGRES:
            # The GIN-indexed tag array of migration 0006: one index lookup however many tags, no join.
            return queryset.filter(
                RawSQL(f"search_tags {'&&' if any_tag else '@>'} %s::text[]", [tags], BooleanField())
            )
        # SQLite: EXISTS probes of the (usecase, name) unique index, which can stop at the page.
        if any_tag:
            return queryset.filter(Exists(UseCaseTag.objects.filter(usecase=OuterRef("pk"), name__in=tags)))
        for tag in tags:
            queryset = queryset.filter(Exists(UseCaseTag.objects.filter(usecase=OuterRef("pk"), name=tag)))
        return queryset

    def filter_max_latency(self, queryset, name, value):
        return queryset.filter(
            Q(**{f"{name}_min__lte": value}) | Q(**{f"{name}_min__isnull": True, f"{name}_max__lte": value})
        )

    def filter_latency_profile(self, queryset, name, value):
        return self._any_profile(queryset, value, profiles.latency_profile_q)

    def filter_input_length_profile(self, queryset, name, value):
        return self._any_profile(queryset, value, profiles.input_length_profile_q)

    @staticmethod
    def _any_profile(queryset, names, to_q):
        if not names:
            return queryset
        condition = Q()
        for name in names:
            condition |= to_q(name)
        return queryset.filter(condition)
