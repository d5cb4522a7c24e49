from django.urls import path

from identity.api import views as api

urlpatterns = [
    path("profiles/upsert", api.upsert, name="api_upsert"),
    path("profiles/lookup", api.lookup, name="api_lookup"),
    path("profiles/<int:profile_id>", api.profile_detail, name="api_profile"),
    path("candidates", api.candidates, name="api_candidates"),
    path("openapi.json", api.openapi, name="api_openapi"),
]
