from django.urls import path

from profiles import views

urlpatterns = [
    path("", views.search, name="profile_search"),
]
