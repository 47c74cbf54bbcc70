"""WebSocket routes of every app, collected in one list for the ASGI router."""

# Apps that stream (bots' live run state, the status board) append their routes here.
websocket_urlpatterns: list = []
