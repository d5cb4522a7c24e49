from django.urls import path

from identity import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("queue/", views.queue, name="queue"),
    path("settings/identifier-types/", views.identifier_types, name="identifier_types"),
]
