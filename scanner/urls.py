from django.contrib.auth import views as auth_views
from django.urls import path

from scanner import (
    account,
    analytics_views,
    cancellation_views,
    devices,
    door_views,
    events,
    orders,
    outbox_views,
    staff,
    views,
    waitlist_views,
)
from ticketing import converters  # noqa: F401 (registers <token:...>)

app_name = "scanner"

urlpatterns = [
    path("", views.home, name="home"),
    # Public: signing in, resetting a password, joining by invitation.
    path("login/", account.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", account.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        account.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        account.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        account.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("invite/<token:token>/", account.invite_accept, name="invite_accept"),
    # Events console (owner and managers; comps owner only).
    path("events/new/", events.event_create, name="event_create"),
    path("events/figures/", events.event_list_figures, name="event_list_figures"),
    path("events/<uuid:event_id>/", events.event_detail, name="event_detail"),
    path("events/<uuid:event_id>/edit/", events.event_edit, name="event_edit"),
    path(
        "events/<uuid:event_id>/duplicate/",
        events.event_duplicate,
        name="event_duplicate",
    ),
    path(
        "events/<uuid:event_id>/on-sale/",
        events.event_set_active,
        name="event_set_active",
    ),
    path("events/<uuid:event_id>/delete/", events.event_delete, name="event_delete"),
    path(
        "events/<uuid:event_id>/cancel/",
        cancellation_views.event_cancel,
        name="event_cancel",
    ),
    path("events/<uuid:event_id>/changes/", events.event_audit, name="event_audit"),
    path(
        "events/<uuid:event_id>/availability/",
        events.event_availability,
        name="event_availability",
    ),
    path("events/<uuid:event_id>/comps/", events.event_comps, name="event_comps"),
    # Staff (owner only).
    path("staff/", staff.staff_list, name="staff"),
    path("staff/invite/", staff.staff_invite, name="staff_invite"),
    path("staff/<int:user_id>/", staff.staff_edit, name="staff_edit"),
    path(
        "staff/<int:user_id>/active/",
        staff.staff_set_active,
        name="staff_set_active",
    ),
    path(
        "staff/invites/<int:invite_id>/cancel/",
        staff.staff_invite_revoke,
        name="staff_invite_revoke",
    ),
    path("staff/devices/", devices.device_list, name="devices"),
    path(
        "staff/devices/<int:device_id>/revoke/",
        devices.device_revoke,
        name="device_revoke",
    ),
    # Analytics (owners and managers)
    path("analytics/", analytics_views.overview, name="analytics"),
    path(
        "analytics/events/<uuid:event_id>/",
        analytics_views.event_dashboard,
        name="analytics_event",
    ),
    path(
        "analytics/events/<uuid:event_id>/live/",
        analytics_views.event_live,
        name="analytics_event_live",
    ),
    path(
        "analytics/events/<uuid:event_id>/orders.csv",
        analytics_views.export_orders,
        name="analytics_export_orders",
    ),
    path(
        "analytics/events/<uuid:event_id>/guests.csv",
        analytics_views.export_guests,
        name="analytics_export_guests",
    ),
    path(
        "analytics/events/<uuid:event_id>/scans.csv",
        analytics_views.export_scans,
        name="analytics_export_scans",
    ),
    # Outbox: failed and retrying messages (owner and managers).
    path("orders/", orders.order_list, name="orders"),
    path("orders/<uuid:order_id>/", orders.order_detail, name="order_detail"),
    path("orders/<uuid:order_id>/refund/", orders.order_refund, name="order_refund"),
    path(
        "orders/<uuid:order_id>/refund-tickets/",
        orders.order_refund_tickets,
        name="order_refund_tickets",
    ),
    path(
        "orders/<uuid:order_id>/void-tickets/",
        orders.order_void_tickets,
        name="order_void_tickets",
    ),
    path("orders/<uuid:order_id>/resend/", orders.order_resend, name="order_resend"),
    path(
        "orders/<uuid:order_id>/texts/<int:message_id>/resend/",
        orders.order_resend_text,
        name="order_resend_text",
    ),
    path("messages/", outbox_views.message_list, name="messages"),
    path(
        "messages/<int:message_id>/resend/",
        outbox_views.message_resend,
        name="message_resend",
    ),
    # Waitlist (owner and managers).
    path(
        "events/<uuid:event_id>/waitlist/",
        waitlist_views.event_waitlist,
        name="event_waitlist",
    ),
    path(
        "events/<uuid:event_id>/waitlist/<int:entry_id>/remove/",
        waitlist_views.remove,
        name="waitlist_remove",
    ),
    path(
        "events/<uuid:event_id>/waitlist/<int:entry_id>/offer/",
        waitlist_views.offer,
        name="waitlist_offer",
    ),
    # Door (every staff role; door staff only at their events).
    path("door/", door_views.door, name="door"),
    path("door/sw.js", door_views.door_service_worker, name="door_sw"),
    path(
        "door/manifest.webmanifest",
        door_views.door_manifest,
        name="door_manifest",
    ),
    path("door/<uuid:event_id>/", door_views.door_event, name="door_event"),
]
