from django.urls import path

from purchase import find_tickets_views, views, waitlist_views, webhooks

app_name = "purchase"

urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("find/", find_tickets_views.find_tickets, name="find_tickets"),
    path("events/<slug:slug>/", views.event_page, name="event"),
    path("o/<str:token>/", views.order_page, name="order"),
    path("o/<str:token>/pay/", views.pay_order, name="pay_order"),
    path("o/<str:token>/calendar.ics", views.order_calendar, name="order_calendar"),
    path("o/<str:token>/done/", views.checkout_return, name="checkout_return"),
    path("o/<str:token>/cancel/", views.checkout_cancel, name="checkout_cancel"),
    path("o/<str:token>/test-payment/", views.simulated_pay, name="simulated_pay"),
    path("t/<str:token>/", views.ticket_page, name="ticket"),
    path("sw.js", views.saved_pages_worker, name="saved_pages_sw"),
    path("webhooks/stripe/", webhooks.stripe_webhook, name="stripe_webhook"),
    path("events/<slug:slug>/waitlist/", waitlist_views.join, name="waitlist_join"),
    path("w/<str:token>/", waitlist_views.entry_status, name="waitlist_entry"),
    path("w/<str:token>/leave/", waitlist_views.leave, name="waitlist_leave"),
]
