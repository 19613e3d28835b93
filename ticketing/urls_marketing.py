from django.urls import include, path

from ticketing.urls_common import common_urlpatterns

urlpatterns = [*common_urlpatterns, path("", include("marketing.urls"))]
