from django.urls import path

from identity import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("queue/", views.queue, name="queue"),
    path("queue/export.csv", views.queue_export, name="queue_export"),
    path("queue/dismiss/", views.dismiss_many, name="queue_dismiss"),
    path("queue/<int:pk>/", views.review, name="review"),
    path("queue/<int:pk>/claim/", views.claim, name="candidate_claim"),
    path("queue/<int:pk>/unclaim/", views.unclaim, name="candidate_unclaim"),
    path("queue/<int:pk>/dismiss/", views.dismiss, name="candidate_dismiss"),
    path("identifiers/<int:pk>/edit/", views.identifier_edit, name="identifier_edit"),
    path("identifiers/<int:pk>/remove/", views.identifier_remove, name="identifier_remove"),
    path("compare/", views.compare_profiles, name="compare"),
    path("compare/suggestions/", views.compare_suggestions, name="compare_suggestions"),
    path("settings/identifier-types/", views.identifier_types, name="identifier_types"),
    path("settings/identifier-types/add/", views.identifier_type_add, name="identifier_type_add"),
    path("settings/identifier-types/jobs/<int:pk>/", views.identifier_type_job,
         name="identifier_type_job"),
    path("settings/identifier-types/<slug:key>/", views.identifier_type_edit,
         name="identifier_type_edit"),
    path("settings/identifier-types/<slug:key>/preview/", views.identifier_type_preview,
         name="identifier_type_preview"),
]
