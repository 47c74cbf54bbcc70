"""Web UI routes of accounts (the API routes are in accounts/api/urls.py)."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.home_page, name="ui-home"),
    path("login", views.login_page, name="ui-login"),
    path("register", views.register_page, name="ui-register"),
    path("logout", views.logout_page, name="ui-logout"),
    path("workspace", views.switch_workspace_page, name="ui-switch-workspace"),
]
