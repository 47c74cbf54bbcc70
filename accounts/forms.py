"""Web UI forms for sign-in and sign-up, and Django's login forms bound to our login service."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.exceptions import InvalidCredentials
from config.problems import RateLimited

LIMITED_MESSAGE = _("Too many attempts. Try again in a minute.")


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=128)


class RegisterForm(forms.Form):
    username = forms.RegexField(
        label=_("Username"),
        regex=r"^[\w.@+-]+$",
        min_length=3,
        max_length=150,
        error_messages={"invalid": _("Use letters, digits and @/./+/-/_ only.")},
    )
    email = forms.EmailField(label=_("E-mail"), max_length=254)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=128)


class _ServiceLoginMixin:
    """Django's login form, checked by `accounts.services.log_in` instead of `authenticate`, so
    it gets the login limit and the audit rows of every other login form.

    `limited` holds the RateLimited refusal after a limited attempt (the view answers 429).
    """

    login_method: str

    def allows(self, user) -> bool:
        return user.is_active

    def clean(self):
        self.limited = None
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = services.log_in(
                    self.request,
                    username=username,
                    password=password,
                    method=self.login_method,
                    allowed=self.allows,
                )
            except RateLimited as refusal:
                self.limited = refusal
                raise forms.ValidationError(LIMITED_MESSAGE, code="rate_limited") from None
            except InvalidCredentials:
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class BrowsableApiLoginForm(_ServiceLoginMixin, AuthenticationForm):
    """The browsable API's sign-in (/api-auth/login/)."""

    login_method = "browsable-api"


class AdminLoginForm(_ServiceLoginMixin, AdminAuthenticationForm):
    """The operator console's sign-in (/admin/login/): active staff only."""

    login_method = "admin"

    def allows(self, user) -> bool:
        return user.is_active and user.is_staff
