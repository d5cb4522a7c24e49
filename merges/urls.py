from django.urls import path

from merges import views

urlpatterns = [
    path("queue/<int:pk>/merge/", views.merge, name="candidate_merge"),
    path("merges/", views.job_list, name="merge_list"),
    path("audit/", views.audit_list, name="audit_list"),
]
