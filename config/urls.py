from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config.health import healthz

urlpatterns = [
    path("api/v1/", include("identity.api.urls")),  # first: the API's requests resolve soonest
    path("", include("identity.urls")),
    path("profiles/", include("profiles.urls")),
    path("", include("merges.urls")),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
