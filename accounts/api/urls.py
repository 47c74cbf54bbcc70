from django.urls import path

from accounts.api.views import LoginView, LogoutView, MeView, RegisterView, WsTicketView

urlpatterns = [
    path("auth/register", RegisterView.as_view(), name="auth-register"),
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("auth/me", MeView.as_view(), name="auth-me"),
    path("auth/ws-ticket", WsTicketView.as_view(), name="auth-ws-ticket"),
]
