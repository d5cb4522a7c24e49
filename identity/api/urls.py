from django.urls import path

from identity.api import views as api
from identity.api.batch import batch

urlpatterns = [
    path("profiles/upsert", api.upsert, name="api_upsert"),
    path("profiles/batch", batch, name="api_batch"),
    path("profiles/lookup", api.lookup, name="api_lookup"),
    path("profiles/<int:profile_id>", api.profile_detail, name="api_profile"),
    path("candidates", api.candidates, name="api_candidates"),
    path("identifier-types", api.identifier_types_list, name="api_identifier_types"),
    path("identifier-types/<slug:key>", api.identifier_type_detail, name="api_identifier_type"),
    path("identifier-types/<slug:key>/preview", api.identifier_type_preview,
         name="api_identifier_type_preview"),
    path("compare", api.compare, name="api_compare"),
    path("openapi.json", api.openapi, name="api_openapi"),
]
