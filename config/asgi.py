"""ASGI entry point (`daphne config.asgi:application`): HTTP through Django, WebSockets through
Channels, with an Origin check and the session user or a single-use ticket on every socket
(config/consumers.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django must be set up before the routing imports consumers that import models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.consumers import SiteOriginValidator, TicketAuthMiddleware  # noqa: E402
from config.daphne import skip_twisted_form_parsing  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

# Malformed form bodies are Django's to answer (problem+json), not twisted's (a bare 400).
skip_twisted_form_parsing()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SiteOriginValidator(
            AuthMiddlewareStack(TicketAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
