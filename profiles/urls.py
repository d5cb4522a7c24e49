from django.urls import path

from profiles import views

urlpatterns = [
    path("", views.search, name="profile_search"),
    path("<int:pk>/", views.detail, name="profile_detail"),
]
