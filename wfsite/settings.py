"""Settings for wfsite; every deployment knob is read from the environment.

Knobs: DATABASE_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS (comma separated), CSRF_TRUSTED_ORIGINS,
the HTTPS settings below (SECURE_*, *_COOKIE_SECURE) and the WFSITE_* limits. With none set, the
site runs in DEBUG on a SQLite file in the project folder. With DEBUG off, the defaults pass
`manage.py check --deploy` (README, "Production settings").
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more, not {value}")
    return value


def process_name(argv: list[str]) -> str:
    """Name this process for the database: "wfsite uvicorn", "wfsite db_worker", "wfsite pytest"."""
    program = Path(argv[0]) if argv and argv[0] else Path("python")
    if program.name == "manage.py" and len(argv) > 1:
        role = argv[1]
    elif program.name == "__main__.py":  # python -m uvicorn
        role = program.parent.name
    else:
        role = program.name
    return f"wfsite {role}"[:63]


def strong_secret_key(key: str) -> str:
    """Return the key, or refuse one that is missing, short, or the development default."""
    if not key:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    if key == DEV_SECRET_KEY or key.startswith("django-insecure-"):
        raise ImproperlyConfigured("SECRET_KEY is the development default; set a random one")
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ImproperlyConfigured(
            f"SECRET_KEY is {len(key)} characters long; use at least {MIN_SECRET_KEY_LENGTH} random "
            "characters, e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return key


DEBUG = env_bool("DEBUG", True)

# Only for local development: DEBUG on and no key given.
DEV_SECRET_KEY = "django-insecure-local-development-only-" + "x" * 20
MIN_SECRET_KEY_LENGTH = 50  # what `check --deploy` asks for
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not DEBUG:
    SECRET_KEY = strong_secret_key(SECRET_KEY)
elif not SECRET_KEY:
    SECRET_KEY = DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# -- HTTPS and browser protections ------------------------------------------------------------------
# Harmless over plain HTTP, so on in development too.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# These need HTTPS, so they default to on only when DEBUG is off; each can be overridden.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Behind a proxy that terminates TLS: "HTTP_X_FORWARDED_PROTO,https" trusts that header, which the
# proxy must always set (or strip), or clients could claim HTTPS themselves.
_proxy_header = env_list("SECURE_PROXY_SSL_HEADER", [])
if _proxy_header and len(_proxy_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be a header and a value, e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = (_proxy_header[0], _proxy_header[1]) if _proxy_header else None
# Sent by sessions_app.middleware on every response; the pages load scripts and styles only from
# static files (htmx evaluates code only for hx-on, trigger filters and js: values, unused here).
WFSITE_CONTENT_SECURITY_POLICY = os.environ.get(
    "WFSITE_CONTENT_SECURITY_POLICY",
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "axes",
    # django-ninja: the JSON API; installed for its docs page's packaged Swagger UI files.
    "ninja",
    "sessions_app",
]

MIDDLEWARE = [
    "sessions_app.ops.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "sessions_app.ops.static_files.StaticFilesMiddleware",
    "sessions_app.middleware.ContentSecurityPolicyMiddleware",
    "sessions_app.middleware.RequestLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sessions_app.middleware.SiteLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "wfsite.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "wfsite.wsgi.application"
ASGI_APPLICATION = "wfsite.asgi.application"

DEFAULT_DATABASE_URL = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL, conn_max_age=0, conn_health_checks=True
    )
}
# PostgreSQL connections come from psycopg's pool, WFSITE_DB_POOL_SIZE per process at most (0: no
# pool, a connection per request). Under ASGI every request runs its queries on a thread of its
# own, so persistent connections would pile up; pooled ones are borrowed and given back (a live
# event stream gives its back before it waits, and the feeds share one; see sessions_app.live).
# application_name says in pg_stat_activity which process holds a connection.
WFSITE_DB_POOL_SIZE = env_int("WFSITE_DB_POOL_SIZE", 20)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("application_name", process_name(sys.argv))
    if WFSITE_DB_POOL_SIZE:
        _options.setdefault("pool", {"min_size": 1, "max_size": WFSITE_DB_POOL_SIZE, "timeout": 30})
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers (the dashboard, the event stream) run while a worker writes; IMMEDIATE
    # takes the write lock at BEGIN so two writers queue on the busy timeout instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

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
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "var" / "static")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Password-reset mail goes to the console unless a real backend is configured.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/sessions/"

# Runs queue in the database for `manage.py db_worker` (one machine, nothing else to run), unless
# WFSITE_TASK_BACKEND=rq: then they queue in Redis at REDIS_URL for RQ workers on any number of
# machines (`manage.py rq_worker`).
WFSITE_TASK_BACKEND = os.environ.get("WFSITE_TASK_BACKEND", "").strip().lower() or "db"
if WFSITE_TASK_BACKEND == "rq":
    # django_rq provides the rqworker command, and django-tasks-rq's system check requires it.
    INSTALLED_APPS += ["django_rq"]
    RQ_QUEUES = {
        "default": {
            "URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            # RQ kills a job after this long (default 180 s, too short for a slow model); the run is
            # then failed with its state kept. Heartbeats, not this, catch a dead worker.
            "DEFAULT_TIMEOUT": env_int("WFSITE_RQ_JOB_TIMEOUT", 3600),
        }
    }
    # The worker must load jobs with django-tasks-rq's Job class; this makes it the default.
    RQ = {"JOB_CLASS": "django_tasks_rq.Job"}
    # django_rq would add a queue dashboard to the admin; that is the admin's call, so it is off.
    RQ_SHOW_ADMIN_LINK = False
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
elif WFSITE_TASK_BACKEND == "db":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
else:
    raise ImproperlyConfigured(f"WFSITE_TASK_BACKEND must be db or rq, not {WFSITE_TASK_BACKEND!r}")


# -- wfsite ---------------------------------------------------------------------------------------
# A running run sends a heartbeat this often; one silent for WFSITE_HEARTBEAT_TIMEOUT is failed.
WFSITE_HEARTBEAT_INTERVAL = float(os.environ.get("WFSITE_HEARTBEAT_INTERVAL", "5"))
WFSITE_HEARTBEAT_TIMEOUT = float(os.environ.get("WFSITE_HEARTBEAT_TIMEOUT", "30"))
# Workflow classes the dashboard can run, by dotted path; the first is the default.
WFSITE_WORKFLOWS = env_list(
    "WFSITE_WORKFLOWS",
    ["sessions_app.workflow.BlogPostGenerator", "sessions_app.workflow.BlogPostPipeline"],
)


def env_ttls(name: str) -> dict[str, float | None]:
    """Parse `Workflow.cache=seconds,...` (`none` for no expiry) into {"Workflow.cache": seconds}."""
    ttls: dict[str, float | None] = {}
    for item in env_list(name, []):
        where, _, raw = item.partition("=")
        try:
            seconds = None if raw.strip().lower() == "none" else float(raw)
        except ValueError:
            seconds = -1.0
        if "." not in where or (seconds is not None and not seconds >= 0):
            raise ImproperlyConfigured(
                f"{name} entries look like BlogPostGenerator.blog_posts=86400 (seconds, or none); got {item!r}"
            )
        ttls[where.strip()] = seconds
    return ttls


# A cache's time to live, overriding what its workflow declares.
WFSITE_CACHE_TTL = env_ttls("WFSITE_CACHE_TTL")

# -- limits (README, "Production settings") -------------------------------------------------------
# A session's state as compact JSON; a write that would grow it past this is refused whole.
WFSITE_MAX_STATE_BYTES = env_int("WFSITE_MAX_STATE_BYTES", 20 * 1024 * 1024)
# A run's inputs: how many, and how long each text may be (a workflow may allow less).
WFSITE_MAX_RUN_INPUTS = env_int("WFSITE_MAX_RUN_INPUTS", 50)
WFSITE_MAX_INPUT_CHARS = env_int("WFSITE_MAX_INPUT_CHARS", 10_000)
# Run starts per user: "N/S" allows N in any S seconds; "" or "0/60" turns the limit off.
WFSITE_RUN_RATE_LIMIT = os.environ.get("WFSITE_RUN_RATE_LIMIT", "20/60").strip()
if WFSITE_RUN_RATE_LIMIT and not re.fullmatch(r"\d+/[1-9]\d*", WFSITE_RUN_RATE_LIMIT):
    raise ImproperlyConfigured(f"WFSITE_RUN_RATE_LIMIT must look like 20/60, not {WFSITE_RUN_RATE_LIMIT!r}")
# A request's form fields (files excluded) and their number; more is answered 413 / 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)
# Uploaded files larger than this are spooled to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
# The largest session import file the admin accepts (checked before it is read); a request
# carrying a file may be this much larger than DATA_UPLOAD_MAX_MEMORY_SIZE.
WFSITE_MAX_UPLOAD_BYTES = env_int("WFSITE_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
# Changes kept per session: the newest this many stay diffable and restorable; older ones are
# folded into one baseline (sessions_app/services/history.py).
WFSITE_HISTORY_KEEP = env_int("WFSITE_HISTORY_KEEP", 1000)

# -- operations (README, "Production settings" and "Running on several machines") ----------------
# Static files: WhiteNoise serves them from the app itself (sessions_app/ops/static_files.py).
# With DEBUG off, `collectstatic` writes hashed, compressed copies that are cached for a year;
# with DEBUG on, files are read from static/ as they are, so no collectstatic is needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Login throttling (django-axes, in the database so every web node agrees): WFSITE_LOGIN_FAILURE_LIMIT
# failed logins for one user name, or from one client address, lock that name or address out
# for WFSITE_LOGIN_COOLOFF_MINUTES after the last failure. Every failure is recorded.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = max(1, env_int("WFSITE_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=max(1, env_int("WFSITE_LOGIN_COOLOFF_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "sessions_app.ops.lockout.lockout_response"
# uvicorn already puts the client's address in REMOTE_ADDR (from X-Forwarded-For, but only when the
# request comes from --forwarded-allow-ips); reading the header here would let clients forge it.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_VERBOSE = False

# Health checks are probed over plain HTTP from inside the network, and metrics scraped likewise.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# /metrics answers a request carrying `Authorization: Bearer <WFSITE_METRICS_TOKEN>`, or one from
# an address in WFSITE_METRICS_ALLOWED_NETWORKS (comma-separated CIDRs; loopback by default only
# with DEBUG on). Neither set: /metrics answers 403 to everyone.
WFSITE_METRICS_TOKEN = os.environ.get("WFSITE_METRICS_TOKEN", "")
WFSITE_METRICS_ALLOWED_NETWORKS = env_list(
    "WFSITE_METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"] if DEBUG else []
)
for _network in WFSITE_METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"WFSITE_METRICS_ALLOWED_NETWORKS holds {_network!r}, which is not a network like 10.0.0.0/8"
        ) from None

# Logs: one line per request and per run transition, each with its request id and run id;
# WFSITE_LOG_FORMAT=json writes one JSON object per line instead.
WFSITE_LOG_FORMAT = os.environ.get("WFSITE_LOG_FORMAT", "plain").strip().lower() or "plain"
if WFSITE_LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"WFSITE_LOG_FORMAT must be plain or json, not {WFSITE_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "sessions_app.ops.logs.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s run=%(run_id)s] %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(run_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": WFSITE_LOG_FORMAT}
    },
    "loggers": {
        "wfsite": {"handlers": ["console"], "level": os.environ.get("WFSITE_LOG_LEVEL", "INFO")},
    },
}

# Retention (`manage.py prune`, and `reap_runs --loop` every WFSITE_PRUNE_INTERVAL seconds; 0 never).
# Each is in days; 0 keeps forever. None of them removes anything a page shows (README).
WFSITE_TASK_RESULTS_KEEP_DAYS = env_int("WFSITE_TASK_RESULTS_KEEP_DAYS", 14)
WFSITE_RUN_EVENTS_KEEP_DAYS = env_int("WFSITE_RUN_EVENTS_KEEP_DAYS", 30)
WFSITE_LOGIN_RECORDS_KEEP_DAYS = env_int("WFSITE_LOGIN_RECORDS_KEEP_DAYS", 90)
WFSITE_PRUNE_INTERVAL = env_int("WFSITE_PRUNE_INTERVAL", 3600)

# -- hostile input ---------------------------------------------------------------------------------
# Containers nested deeper than this (the state is level 1) are refused on every write; real states
# nest a few levels. Pages show anything deeper than this collapsed. Above 200, Python's recursion
# limit would be reached first.
WFSITE_MAX_STATE_DEPTH = env_int("WFSITE_MAX_STATE_DEPTH", 64)
if not 1 <= WFSITE_MAX_STATE_DEPTH <= 200:
    raise ImproperlyConfigured(f"WFSITE_MAX_STATE_DEPTH must be 1 to 200, not {WFSITE_MAX_STATE_DEPTH}")

# -- serving (`manage.py serve`, `make run`) ------------------------------------------------------
# How many web processes `manage.py serve` runs on its one port; 0 (the default): one per core.
WFSITE_WEB_PROCESSES = env_int("WFSITE_WEB_PROCESSES", 0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend plus a per-process write gate, so concurrent requests queue for
    # SQLite's write lock instead of sleeping in its busy handler (the backend's docstring says why).
    DATABASES["default"]["ENGINE"] = "sessions_app.db_backends.sqlite3"
    # Seconds a write waits for the lock before it fails ("database is locked", a 503 page).
    _busy_timeout = os.environ.get("WFSITE_SQLITE_BUSY_TIMEOUT", "").strip() or "20"
    if not re.fullmatch(r"\d+(\.\d+)?", _busy_timeout):
        raise ImproperlyConfigured(f"WFSITE_SQLITE_BUSY_TIMEOUT must be seconds, not {_busy_timeout!r}")
    DATABASES["default"]["OPTIONS"]["timeout"] = float(_busy_timeout)
    # Sync views run on a few long-lived threads (sessions_app/serving/asgi.py), so each keeps its
    # connection and SQLite's page cache instead of opening both again for every request.
    DATABASES["default"]["CONN_MAX_AGE"] = 600
# A write that finds the database locked past that timeout answers 503 "busy, try again" (templates/503.html).
MIDDLEWARE += ["sessions_app.middleware.DatabaseBusyMiddleware"]
# -- the JSON API (README, "Use the API") ----------------------------------------------------------
# A JSON body sent to the API (a state to PUT, a patch, a session file to import); more is a 413.
# Small bodies parsed by the API's schemas (a run start, a new session) keep DATA_UPLOAD_MAX_MEMORY_SIZE.
WFSITE_API_MAX_BODY_BYTES = env_int("WFSITE_API_MAX_BODY_BYTES", 50 * 1024 * 1024)
