"""WebSocket routes of every app, collected in one list for the ASGI router."""

from django.urls import re_path

from bots.routing import websocket_urlpatterns as bots_streams
from config.consumers import UnknownStreamConsumer

# Apps that stream (bots' live run state, the status board) add their routes here; the last
# route closes any other path with 4404.
websocket_urlpatterns: list = [
    *bots_streams,
    re_path(r"", UnknownStreamConsumer.as_asgi()),
]
