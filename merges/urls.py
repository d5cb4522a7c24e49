from django.urls import path

from merges import api, views

urlpatterns = [
    path("queue/<int:pk>/merge/", views.candidate_merge, name="candidate_merge"),
    path("merges/", views.job_list, name="merge_list"),
    path("merges/new/", views.profiles_merge, name="profiles_merge"),
    path("merges/<int:pk>/", views.job_detail, name="merge_detail"),
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("audit/<int:pk>/", views.audit_detail, name="audit_detail"),
    path("profiles/<int:pk>/erase/", views.profile_erase, name="profile_erase"),
    path("api/v1/merges", api.merges, name="api_merges"),
    path("api/v1/merges/<int:merge_id>", api.merge_detail, name="api_merge"),
    path("api/v1/erasures", api.erasures, name="api_erasures"),
]
