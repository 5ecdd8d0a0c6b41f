from django.urls import path

from knowledge.customers import views

app_name = "customers"

urlpatterns = [
    path("", views.search, name="search"),
    path("<int:pk>/", views.detail, name="detail"),
]
