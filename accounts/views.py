"""Web UI pages: sign in, sign up, sign out, the home page and the workspace switch; and the
browsable API's sign-in and sign-out."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services
from accounts.exceptions import InvalidCredentials
from accounts.forms import LIMITED_MESSAGE, BrowsableApiLoginForm, LoginForm, RegisterForm
from config.problems import RateLimited, ValidationProblem
from config.ratelimit import enforce
from workspaces.ui import switch_workspace


def _safe_next(request, fallback: str = "ui-home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _limited(response, refusal: RateLimited | None):
    """A login form's page answered 429 with Retry-After when the login limit refused it."""
    if refusal is not None:
        response.status_code = 429
        for name, value in refusal.headers.items():
            response[name] = value
    return response


@require_http_methods(["GET", "POST"])
def login_page(request):
    form = LoginForm(request.POST or None)
    limited = None
    if request.method == "POST" and form.is_valid():
        try:
            user = services.log_in(request, **form.cleaned_data, method="session")
        except RateLimited as refusal:
            limited = refusal
            form.add_error(None, LIMITED_MESSAGE)
        except InvalidCredentials:
            form.add_error(None, _("Wrong username or password."))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(_safe_next(request))
    context = {"form": form, "next": _safe_next(request, "")}
    return _limited(render(request, "accounts/login.html", context), limited)


class BrowsableApiLoginView(LoginView):
    """The browsable API's sign-in, through the same login service as every other form."""

    authentication_form = BrowsableApiLoginForm
    template_name = "rest_framework/login.html"

    def form_invalid(self, form):
        return _limited(super().form_invalid(form), form.limited)


class BrowsableApiLogoutView(LogoutView):
    """The browsable API's sign-out: ends the session through the service (audited)."""

    def post(self, request, *args, **kwargs):
        services.log_out(request, user=request.user, token=None)
        return super().post(request, *args, **kwargs)


@require_http_methods(["GET", "POST"])
def register_page(request):
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enforce(request, group="auth.register", rate=settings.RATE_LIMIT_REGISTER)
            user = services.register_user(**form.cleaned_data)
        except RateLimited:
            form.add_error(None, _("Too many sign-ups from your address. Try again later."))
        except ValidationProblem as problem:
            for error in problem.errors:
                field = error["pointer"].lstrip("/") or None
                form.add_error(field if field in form.fields else None, error["detail"])
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome! Your personal workspace is ready."))
            return redirect("ui-home")
    return render(request, "accounts/register.html", {"form": form})


@require_POST
def logout_page(request):
    services.log_out(request, user=request.user, token=None)
    return redirect("ui-login")


@login_required
def home_page(request):
    return render(request, "accounts/home.html")


@login_required
@require_POST
def switch_workspace_page(request):
    if not switch_workspace(request, request.POST.get("workspace_id", "")):
        messages.error(request, _("You are not a member of that workspace."))
    return redirect(_safe_next(request))
