"""Web UI routes of this app."""

from django.urls import path

from exchanges import views

urlpatterns = [
    path("connections", views.connections_page, name="ui-connections"),
]
