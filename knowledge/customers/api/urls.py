from django.urls import path

from knowledge.customers.api.views import CustomerDetailApi, CustomerSearchApi

urlpatterns = [
    path("customers/", CustomerSearchApi.as_view(), name="customer_search"),
    path("customers/<int:pk>/", CustomerDetailApi.as_view(), name="customer_detail"),
]
