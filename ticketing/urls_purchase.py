from django.urls import include, path

from ticketing.urls_common import common_urlpatterns

urlpatterns = [
    *common_urlpatterns,
    path("", include("purchase.api_urls")),
    path("", include("purchase.urls")),
]
