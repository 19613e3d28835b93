"""The Django admin: a read-only view of the data, for operators.

Every change goes through the services, which the console, the API and the
webhooks call: they take the locks, move the sold and checked-in counters,
write the audit log and tell the live pages after commit. An admin form
saving an order, a ticket or a capacity directly would do none of that (a
ticket voided here would leave its seat counted as sold), so the admin
shows and searches, and the console changes.
"""

from django.contrib import admin

from core import models


class ReadOnly:
    """View only: no add, change or delete, for a model admin or an inline."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    pass


class TicketTypeInline(ReadOnly, admin.TabularInline):
    model = models.TicketType
    extra = 0


@admin.register(models.Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "starts_at",
        "venue",
        "venue_capacity",
        "sold_count",
        "is_active",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "venue"]
    inlines = [TicketTypeInline]


class OrderLineInline(ReadOnly, admin.TabularInline):
    model = models.OrderLine
    extra = 0


@admin.register(models.Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "event",
        "customer_email",
        "status",
        "source",
        "total",
        "created_at",
    ]
    list_filter = ["status", "source", "event"]
    search_fields = [
        "code",
        "customer_email",
        "customer_name",
        "stripe_checkout_session_id",
    ]
    inlines = [OrderLineInline]


@admin.register(models.Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "event",
        "ticket_type",
        "guest_name",
        "status",
        "scanned_at",
    ]
    list_filter = ["status", "event"]
    search_fields = ["code", "guest_name", "guest_email"]
    raw_id_fields = ["order"]


@admin.register(models.ScanLog)
class ScanLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "event", "result", "staff", "device_label", "ticket"]
    list_filter = ["result", "event"]
    raw_id_fields = ["ticket"]


@admin.register(models.WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyAdmin):
    list_display = ["event", "name", "email", "quantity", "status", "created_at"]
    list_filter = ["status", "event"]


for model in (
    models.Payment,
    models.ProviderEvent,
    models.StaffProfile,
    models.StaffInvite,
    models.ScannerDevice,
    models.AuditLogEntry,
    models.OutboundMessage,
):
    admin.site.register(model, ReadOnlyAdmin)
