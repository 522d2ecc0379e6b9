"""URLs as DOT's tutorial mounts them (under /o/), the RFC 8414 document also at the origin's root as DOT's
urls module recommends for a prefixed mount, and Django's stock login view."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider import views as oauth2_views

urlpatterns = [
    path("o/", include("oauth2_provider.urls")),
    path(".well-known/oauth-authorization-server/<path:issuer_path>", oauth2_views.OAuthServerMetadataView.as_view()),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
]
