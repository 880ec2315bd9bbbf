"""Settings shared by every environment; everything that varies comes from the environment (12-factor).

`.env` is read before any variable, by the one `environ.Env`. Importing settings creates nothing on disk: the
folders under VAR_DIR (SQLite file, static files, filesystem broker) are made at start-up by `core.apps`.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("SECRET_KEY", default="insecure-dev-key-change-me-in-production-0123456789")
DEBUG = env.bool("DEBUG", default=False)
# Fernet keys for secrets at rest (core.crypto), comma-separated: the first encrypts, all decrypt. Empty: one key
# derived from SECRET_KEY (development only; production settings require this variable).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "tenancy",
    "usecases",
    "components",
    "templates_app",
    "jobs",
    "deployments",
    "serving",
    "sizing",
    "security",
    "audit",
    "console",
    "sso",
    "observability",
    "billing",
    "autoscaling",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "security.middleware.RefusedCallerMiddleware",
    "audit.middleware.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sso.context_processors.sso",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
# Default: a SQLite file under var/ in WAL mode with a busy timeout, so the web server, the worker and beat can
# share it. IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        }
    )
    # A file, not :memory:, so a Celery worker process started by an integration test sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
# Catalog searches count their matches exactly up to this many (or the end of the page asked for); beyond it the
# count is PostgreSQL's estimate, flagged `count_exact: false`, so a broad search never counts 100,000 rows.
USECASE_SEARCH_EXACT_COUNT = env.int("USECASE_SEARCH_EXACT_COUNT", default=1000)
# A new deployment's first reconcile pass runs in the creating process right after the commit (no broker hop);
# false sends it to a worker like every later pass.
DEPLOYMENTS_FIRST_PASS_INLINE = env.bool("DEPLOYMENTS_FIRST_PASS_INLINE", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Single sign-on (OpenID Connect); off while OIDC_ISSUER is empty. README "Single sign-on" -------------------
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="single sign-on")
OIDC_CLAIM_USERNAME = env.str("OIDC_CLAIM_USERNAME", default="preferred_username")
OIDC_CLAIM_EMAIL = env.str("OIDC_CLAIM_EMAIL", default="email")
OIDC_CLAIM_FIRST_NAME = env.str("OIDC_CLAIM_FIRST_NAME", default="given_name")
OIDC_CLAIM_LAST_NAME = env.str("OIDC_CLAIM_LAST_NAME", default="family_name")
OIDC_CLAIM_GROUPS = env.str("OIDC_CLAIM_GROUPS", default="groups")
# `group=Tenant:role` or `group=superuser`, separated by `;` (beside the admin-editable table).
OIDC_GROUP_ROLES = env.str("OIDC_GROUP_ROLES", default="")
OIDC_API_AUDIENCE = env.str("OIDC_API_AUDIENCE", default="")  # empty: the client id
OIDC_LEEWAY_SECONDS = env.int("OIDC_LEEWAY_SECONDS", default=60)
OIDC_TIMEOUT_SECONDS = env.float("OIDC_TIMEOUT_SECONDS", default=5.0)
OIDC_LINK_EXISTING_USERS = env.bool("OIDC_LINK_EXISTING_USERS", default=False)
LOCAL_LOGIN_ENABLED = env.bool("LOCAL_LOGIN_ENABLED", default=True)
# The SSO backend only restores sessions (it authenticates nobody by itself); the model backend is password login.
AUTHENTICATION_BACKENDS = ["sso.backends.IdentityProviderBackend"] + (
    ["security.login.LockoutModelBackend"] if LOCAL_LOGIN_ENABLED else []  # ModelBackend + failed-login lockout
)
# Sign-in protection (security.login): failures per username / per address within the window lock it for a while.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_IP_LIMIT = env.int("LOGIN_FAILURE_IP_LIMIT", default=20)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)

# --- Redis: Celery broker and Django cache when configured ----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",  # Django's, reusing its redis-py clients
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="uf"),
            "TIMEOUT": 300,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "TIMEOUT": 300}}

# --- Celery -----------------------------------------------------------------------------------------------------
# With no REDIS_URL the broker is kombu's filesystem transport under var/: a real broker that needs no server.
BROKER_DIR = VAR_DIR / "broker"
# The transport ignores the host, but kombu logs "No hostname was supplied" on every connection without one.
FILESYSTEM_BROKER_URL = "filesystem://localhost/"


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's filesystem transport in `folder` (its queue, processed and control sub-folders)."""
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # The transport polls its folder; its 1 s default would put a second on every hop of a deployment.
        "polling_interval": 0.1,
    }


if REDIS_URL:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=FILESYSTEM_BROKER_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{BROKER_DIR / 'results'}")

CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Below the broker's visibility timeout (3600 s), so a task lost with its worker is redelivered, never run twice.
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Periodic tasks (each app's task, named here so one beat runs them all).
CELERY_BEAT_SCHEDULE: dict = {
    # Jobs progress with no one watching: one scheduling pass over every busy cluster every 2 s.
    "jobs-advance": {"task": "jobs.advance_jobs", "schedule": 2.0, "options": {"expires": 10}},
    # A lost reconcile task or a killed worker heals: overdue deployments are re-queued.
    "deployments-requeue-stale": {
        "task": "deployments.requeue_stale_deployments",
        "schedule": 5.0,
        "options": {"expires": 10},
    },
    # Metering: every minute of job wall time that is over becomes one usage record per job (billing app).
    "billing-meter-usage": {"task": "billing.meter_usage", "schedule": 60.0, "options": {"expires": 55}},
    # Last month's invoices are finalised once it is over (hourly, so a month closes within the hour).
    "billing-close-month": {"task": "billing.close_month", "schedule": 3600.0},
    # A price change dated in the future becomes the cluster's current prices (estimates, sizing) when it is due.
    "billing-apply-price-changes": {
        "task": "billing.apply_price_changes",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # A closed month's usage becomes hourly rows a day after its end, once its invoices are final.
    "billing-compact-usage": {"task": "billing.compact_usage", "schedule": 3600.0},
    "billing-refresh-drafts": {"task": "billing.refresh_drafts", "schedule": 600.0},
    "billing-check-budgets": {"task": "billing.check_budgets", "schedule": 300.0, "options": {"expires": 290}},
    "usecases-purge-expired-cache": {"task": "usecases.tasks.purge_expired_usecase_cache", "schedule": 3600.0},
}

# --- Audit trail ------------------------------------------------------------------------------------------------
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
# Writes under these paths are not audited as requests: sign-in and sign-out are recorded as login attempts.
# The gateway's requests (/serve/) are counted per minute (serving.models.EndpointTraffic), not audited one by one.
AUDIT_IGNORED_PATHS = [
    "/accounts/login",
    "/accounts/logout",
    "/accounts/oidc/",
    "/admin/login",
    "/admin/logout",
    "/serve/",
]
# --- Observability ----------------------------------------------------------------------------------------------
# Minute rollups older than this are folded into hourly ones; rollups older than the retention are deleted.
METRICS_MINUTE_RETENTION_DAYS = env.int("METRICS_MINUTE_RETENTION_DAYS", default=7)
METRICS_RETENTION_DAYS = env.int("METRICS_RETENTION_DAYS", default=90)
# How far back a collection pass catches up for a deployment it has not read lately (minutes).
METRICS_CATCH_UP_MINUTES = env.int("METRICS_CATCH_UP_MINUTES", default=15)
# /metrics (Prometheus): a scraper sends "Authorization: Bearer <METRICS_BEARER_TOKEN>" (empty: superusers only, by
# their session); the Celery queues whose length it shows.
# How long a request's token check may use a cached copy of the token and its user (security.services): only where the
# cache is shared by every process (Redis); a per-process cache would miss another process's revocation.
TOKEN_CACHE_SECONDS = env.int("TOKEN_CACHE_SECONDS", default=60 if REDIS_URL else 0)
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")
METRICS_CELERY_QUEUES = env.list("METRICS_CELERY_QUEUES", default=[CELERY_TASK_DEFAULT_QUEUE])
CELERY_BEAT_SCHEDULE["observability-collect"] = {
    "task": "observability.collect_metrics",
    "schedule": 60.0,
    "options": {"expires": 55},
}
CELERY_BEAT_SCHEDULE["observability-compact"] = {"task": "observability.compact_metrics", "schedule": 3600.0}
# The autoscaler reads the minute rollups: one pass every 15 s notices a new minute within a quarter of it.
CELERY_BEAT_SCHEDULE["autoscaling-autoscale"] = {
    "task": "autoscaling.autoscale",
    "schedule": 15.0,
    "options": {"expires": 14},
}
CELERY_BEAT_SCHEDULE["audit-purge"] = {"task": "audit.purge_expired_events", "schedule": 24 * 3600.0}

# --- Serving: stable endpoints, deployment keys, the request gateway (serving app; README "Endpoints and keys") ---
# The public base URL of the gateway (https://api.example.com); empty: the host each API request came to.
SERVING_BASE_URL = env.str("SERVING_BASE_URL", default="")
# Requests per minute a new deployment key may make when its creator sets no limit (sliding window, per key).
SERVING_DEFAULT_RATE_LIMIT = env.int("SERVING_DEFAULT_RATE_LIMIT", default=600)
# A key's last_used_at is written at most this often (seconds): one UPDATE a minute, not one per request.
SERVING_LAST_USED_RESOLUTION = env.int("SERVING_LAST_USED_RESOLUTION", default=60)

# --- REST framework -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "security.authentication.ApiTokenAuthentication",
        "sso.authentication.IdentityProviderTokenAuthentication",  # `Bearer <JWT>` from OIDC_ISSUER
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "security.throttling.UserRateThrottle",
        "security.throttling.AnonRateThrottle",
        "security.throttling.ExpensiveRateThrottle",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.query.KnownQueryParamsFilter",
        "django_filters.rest_framework.DjangoFilterBackend",
        "core.api.query.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Rates of security.throttling ("<n>/<second|minute|hour|day>"), read per request; on the cache, so with Redis they
# hold across web processes (with the in-memory cache of `make run`, per process).
API_THROTTLE_RATES = {
    "user": env.str("API_RATE_USER", default="1200/minute"),
    "anon": env.str("API_RATE_ANON", default="60/minute"),
    "expensive": env.str("API_RATE_EXPENSIVE", default="30/minute"),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "UseCase Foundry API",
    "DESCRIPTION": "Control plane for deploying AI use cases: SLO catalog, component registry, templates, "
    "deployments and the job layer.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc are served from our static files (drf-spectacular-sidecar): pinned, and they work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # After the enum hook: every operation's 4xx answers in the project's error shape (core.api.schema).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api.schema.error_responses"],
    "ENUM_NAME_OVERRIDES": {
        "ComponentCategoryEnum": "components.models.ComponentDefinition.Category",
        "TemplateCategoryEnum": "templates_app.models.UseCaseTemplate.Category",
        "JobTypeEnum": "jobs.models.Job.JobType",
        "ComponentJobTypeEnum": "components.models.ComponentDefinition.JobType",
        "ComponentRoleEnum": "deployments.selectors.COMPONENT_ROLES",
        "RoleEnum": "tenancy.models.Membership.Role",  # keeps its name beside the components' role
        "PrecisionEnum": "sizing.reference.PRECISIONS",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
    },
}

# --- The Kubernetes cluster driver (jobs/drivers/kubernetes) ---------------------------------------------------
# helm for `helm` components: HELM_BINARY, else `helm` on PATH (scripts/k8s-test-cluster/tools.sh installs one).
HELM_BINARY = env.str("HELM_BINARY", default="")
KUBERNETES_HELM_TIMEOUT = env.str("KUBERNETES_HELM_TIMEOUT", default="10m")
# Where helm's values, output and exit code of each release's install are kept (one private folder per job).
KUBERNETES_WORK_DIR = env.str("KUBERNETES_WORK_DIR", default=str(VAR_DIR / "kubernetes"))
# While a job starts on a Kubernetes cluster, how often the reconciler reads the cluster's objects again.
KUBERNETES_POLL_SECONDS = env.float("KUBERNETES_POLL_SECONDS", default=2.0)
KUBERNETES_CLUSTER_DOMAIN = env.str("KUBERNETES_CLUSTER_DOMAIN", default="cluster.local")

# --- Quotas and fair share (jobs/quotas/) ----------------------------------------------------------------------
# How fast a queue's remembered share fades: fair share looks at what a queue borrowed over about this long, so a
# queue whose big job just ended does not jump the line at once (0: only what it holds now).
JOBS_FAIR_SHARE_HALF_LIFE_SECONDS = env.float("JOBS_FAIR_SHARE_HALF_LIFE_SECONDS", default=300.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
