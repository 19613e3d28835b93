from django.urls import include, path

from ticketing.urls_common import common_urlpatterns

urlpatterns = [*common_urlpatterns, path("", include("marketing.urls"))]

# Error pages in the site's own layout (JSON for the APIs): ticketing/errors.py
handler403 = "ticketing.errors.permission_denied"
handler404 = "ticketing.errors.page_not_found"
handler500 = "ticketing.errors.server_error"
