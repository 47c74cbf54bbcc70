"""The browsable API's sign-in and sign-out (/api-auth/), in place of `rest_framework.urls`:
the same names, our login service behind them."""

from django.urls import path

from accounts import views

app_name = "rest_framework"  # the browsable API's templates reverse rest_framework:login/logout
urlpatterns = [
    path("login/", views.BrowsableApiLoginView.as_view(), name="login"),
    path("logout/", views.BrowsableApiLogoutView.as_view(), name="logout"),
]
