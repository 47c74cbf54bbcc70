"""Web UI routes of this app."""

from django.urls import path

from lab import views

urlpatterns = [
    path("lab", views.lab_page, name="ui-lab"),
    path("lab/backtests/<uuid:backtest_id>", views.backtest_page, name="ui-lab-backtest"),
]
