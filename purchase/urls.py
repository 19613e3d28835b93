from django.urls import path

from purchase import find_tickets_views, views, waitlist_views, webhooks
from ticketing import converters  # noqa: F401 (registers <token:...>)

app_name = "purchase"

urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("find/", find_tickets_views.find_tickets, name="find_tickets"),
    path("events/<slug:slug>/", views.event_page, name="event"),
    path("o/<token:token>/", views.order_page, name="order"),
    path("o/<token:token>/pay/", views.pay_order, name="pay_order"),
    path("o/<token:token>/calendar.ics", views.order_calendar, name="order_calendar"),
    path("o/<token:token>/done/", views.checkout_return, name="checkout_return"),
    path("o/<token:token>/cancel/", views.checkout_cancel, name="checkout_cancel"),
    path("o/<token:token>/test-payment/", views.simulated_pay, name="simulated_pay"),
    path("t/<token:token>/", views.ticket_page, name="ticket"),
    path("sw.js", views.saved_pages_worker, name="saved_pages_sw"),
    path("webhooks/stripe/", webhooks.stripe_webhook, name="stripe_webhook"),
    path("events/<slug:slug>/waitlist/", waitlist_views.join, name="waitlist_join"),
    path("w/<token:token>/", waitlist_views.entry_status, name="waitlist_entry"),
    path("w/<token:token>/leave/", waitlist_views.leave, name="waitlist_leave"),
]
