from django.urls import path

from merges import views

urlpatterns = [
    path("merges/", views.job_list, name="merge_list"),
    path("audit/", views.audit_list, name="audit_list"),
]
