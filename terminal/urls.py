"""Web UI routes of this app."""

from django.urls import path

from terminal import views

urlpatterns = [
    path("terminal", views.terminal_page, name="ui-terminal"),
]
