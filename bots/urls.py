"""Web UI routes of this app."""

from django.urls import path

from bots import views

urlpatterns = [
    path("bots", views.bots_page, name="ui-bots"),
    path("bots/<uuid:bot_id>", views.bot_page, name="ui-bot"),
]
