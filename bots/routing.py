"""WebSocket routes of this app (collected by config/routing.py)."""

from django.urls import path

from bots.consumers import BotsConsumer, RunConsumer

websocket_urlpatterns = [
    path("ws/v1/bots", BotsConsumer.as_asgi()),
    path("ws/v1/runs/<uuid:run_id>", RunConsumer.as_asgi()),
]
