"""Web UI routes of this app."""

from django.urls import path

from strategies import views

urlpatterns = [
    path("strategies", views.strategies_page, name="ui-strategies"),
    path("strategies/new", views.strategy_new_page, name="ui-strategy-new"),
    path("strategies/<uuid:strategy_id>", views.strategy_page, name="ui-strategy"),
]
