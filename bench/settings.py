"""Settings of the benchmarks' servers: the product's, with the bench URLconf.

The product ships nothing bench-only; bench/order_bench.py starts daphne with
`DJANGO_SETTINGS_MODULE=bench.settings`, which adds the floor endpoint (bench/floor_urls.py)
beside every product URL. Middleware, authentication, scoping and the database are the
product's own.

The `config` package must be imported before Django reads this module (daphne's `config.asgi`
is; the bench scripts `import config` first): the package starts the Celery app, which reads
the settings, and would otherwise find this module half-built.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
