"""Combined URLconf: all three sites on one host under path prefixes."""

from django.urls import include, path

from ticketing.urls_common import common_urlpatterns

urlpatterns = [
    *common_urlpatterns,
    path("", include("purchase.api_urls")),
    path("", include("scanner.api_urls")),
    path("buy/", include("purchase.urls")),
    path("scanner/", include("scanner.urls")),
    path("", include("marketing.urls")),
]
