"""Mergeguard settings, read from the environment.

Defaults are safe for production: DEBUG is off, SECRET_KEY must be given unless DEBUG is on,
cookies are secure unless DEBUG is on. `make demo` and `make test` supply what they need.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-debug-mode"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_filters",
    "django_htmx",
    "pgtrigger",
    "axes",
    "profiles",
    "identity",
    "merges",
]

MIDDLEWARE = [
    # First: every log line of the request names its id (config/logging.py).
    "config.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.NoStoreMiddleware",
    "django.middleware.common.CommonMiddleware",
    # /api/ requests stop here: they go to their view without the pages' middleware below.
    "identity.api.middleware.ApiMiddleware",
    # Pages only: the API answers JSON, which no browser runs.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.logging.LogUserMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: refuses a login locked out after repeated failures.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): every script and style comes from our own static files;
# no page needs inline script or style. The review page's speculation rules (the next candidate
# loaded ahead) are the one inline script, allowed by their own keyword.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, "'inline-speculation-rules'"],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one user name
# from one address, logins from there are refused for LOGIN_LOCKOUT_MINUTES; a success resets
# the count. An admin unlocks early by deleting the access attempts in the admin (or
# `manage.py axes_reset_username NAME`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "config.context_processors.broker_state",
            ],
        },
    },
]

DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:54329/mergeguard"
)
if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...)")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A SELECT 1 before each request's first query: safe across database restarts, at a
        # cost the API's busiest workers may choose not to pay.
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
    )
}
# The write path's statements are prepared after this many runs on a connection
# (identity/writing/cursors.py). Off (DATABASE_PREPARED_STATEMENTS=false) behind a connection pooler
# that does not keep prepared statements, such as PgBouncer before 1.21 in transaction mode.
if env_bool("DATABASE_PREPARED_STATEMENTS", True):
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["prepare_threshold"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:63799/0")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged when it finishes: a worker killed mid-task leaves it to be delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600
# Unacknowledged tasks come back after this long; it must exceed the longest job.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
}

# Long jobs (full detection runs, identifier-type jobs) stamp a heartbeat on their row every
# HEARTBEAT_SECONDS while they run; one whose heartbeat stopped HEARTBEAT_STALE_SECONDS ago has
# lost its worker: the beat queues it again and /healthz reports it meanwhile. A running merge
# holds its job's row locked instead: one running this long with the row free is queued again.
HEARTBEAT_SECONDS = env_int("HEARTBEAT_SECONDS", 10)
HEARTBEAT_STALE_SECONDS = env_int("HEARTBEAT_STALE_SECONDS", 120)
if HEARTBEAT_SECONDS < 1 or HEARTBEAT_STALE_SECONDS < 2 * HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "HEARTBEAT_SECONDS must be at least 1 and HEARTBEAT_STALE_SECONDS at least twice it"
    )
# How often the beat takes up work the broker or a worker lost: detection the writes left in
# the outbox, merge jobs and long jobs whose message was lost or whose worker died.
RECOVERY_SECONDS = env_int("RECOVERY_SECONDS", 60)
if RECOVERY_SECONDS < 1:
    raise ImproperlyConfigured("RECOVERY_SECONDS must be at least 1")

CELERY_BEAT_SCHEDULE = {
    "purge-idempotency-records": {
        "task": "identity.tasks.purge_idempotency_records",
        "schedule": 3600.0,
    },
    # Writes wake a drain task themselves; this one takes what they left while the broker
    # was down, or whose task was lost.
    "detect-pending-profiles": {
        "task": "identity.tasks.detect_pending_profiles",
        "schedule": float(RECOVERY_SECONDS),
    },
    # Merge jobs whose message was lost (the broker was down when they were requested, or
    # their worker died) are handed to a worker again; a job runs once however often it is.
    "resume-merges": {
        "task": "merges.tasks.resume_merges",
        "schedule": float(RECOVERY_SECONDS),
    },
    # Detection runs and identifier-type jobs whose heartbeat stopped, or whose message was
    # lost, are queued again.
    "resume-stalled-jobs": {
        "task": "identity.tasks.resume_stalled_jobs",
        "schedule": float(RECOVERY_SECONDS),
    },
    # The whole audit chain, checked daily; /healthz shows when it last passed.
    "verify-audit-chain": {
        "task": "merges.audit.verify_audit_chain",
        "schedule": 86400.0,
    },
}

DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "US")
# Writes leave the profiles they touched for incremental detection (an outbox table a task
# drains: identity.matching.pending).
DETECT_ON_WRITE = env_bool("DETECT_ON_WRITE", True)
# A backlog of this many profiles waiting for incremental detection (and 5% of the active ones)
# goes to one full detection run instead (identity.matching.pending); 0: never.
DETECTION_BACKLOG_FULL_RUN = env_int("DETECTION_BACKLOG_FULL_RUN", 20_000)
if DETECTION_BACKLOG_FULL_RUN < 0:
    raise ImproperlyConfigured("DETECTION_BACKLOG_FULL_RUN must be 0 or more")
# API writes remember their Idempotency-Key at least this long (SPEC 3.6: 24 hours).
IDEMPOTENCY_KEY_HOURS = env_int("IDEMPOTENCY_KEY_HOURS", 24)
if IDEMPOTENCY_KEY_HOURS < 24:
    raise ImproperlyConfigured("IDEMPOTENCY_KEY_HOURS must be at least 24")
# Concurrent API writes of one threaded server process share a transaction
# (identity/writing/batching.py).
API_GROUP_COMMIT = env_bool("API_GROUP_COMMIT", True)
# Requests each API token may make per minute (identity/api/ratelimit.py), counted in Redis; over
# it, 429 with Retry-After. 0 turns the limit off; while Redis is down it is not enforced.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 6000)
# Merges (SPEC 6): the largest group one job merges; each succeeded merge is POSTed to the
# webhook URL, when set, signed with HMAC-SHA256 of the secret.
MERGE_MAX_GROUP = env_int("MERGE_MAX_GROUP", 50)
# Writes linking profiles through an auto_merge type (anonymous_id) queue their merge (SPEC 3).
AUTOMATIC_MERGES = env_bool("AUTOMATIC_MERGES", True)
if MERGE_MAX_GROUP < 2:
    raise ImproperlyConfigured("MERGE_MAX_GROUP must be at least 2")
MERGE_WEBHOOK_URL = os.environ.get("MERGE_WEBHOOK_URL", "")
MERGE_WEBHOOK_SECRET = os.environ.get("MERGE_WEBHOOK_SECRET", "")
if MERGE_WEBHOOK_URL and not MERGE_WEBHOOK_SECRET:
    raise ImproperlyConfigured("MERGE_WEBHOOK_URL needs MERGE_WEBHOOK_SECRET to sign its posts")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / ".var" / "static"))
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security: production-safe unless DEBUG is on; behind a TLS-terminating proxy set
# SECURE_PROXY_SSL_HEADER through SECURE_PROXY_SSL=true.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env_bool("SECURE_PROXY_SSL", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
# A session ends after SESSION_IDLE_MINUTES without a request (each request extends it).
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Logs (config/logging.py): emails and phone numbers masked in every line, whoever logs it; each
# line names its request id (also answered as X-Request-ID), user (or API token) and job.
LOGGING_CONFIG = "config.logging.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "context": {
            "format": "%(asctime)s %(levelname)s %(name)s "
                      "[request=%(request_id)s user=%(user)s job=%(job)s] %(message)s",
        },
    },
    "filters": {"api_refusal": {"()": "config.logging.ApiRefusalFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "context"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # django-axes says a line at INFO for every login; lock-outs are its warnings.
        "axes": {"level": "WARNING"},
        "django.request": {"filters": ["api_refusal"]},
    },
}
# Celery workers log through LOGGING too, so their lines carry the job and are masked.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
