from django.contrib import admin

from core import models


class TicketTypeInline(admin.TabularInline):
    model = models.TicketType
    extra = 0
    readonly_fields = ["sold_count", "checked_in_count"]


@admin.register(models.Event)
class EventAdmin(admin.ModelAdmin):
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
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["sold_count", "checked_in_count"]
    inlines = [TicketTypeInline]


class OrderLineInline(admin.TabularInline):
    model = models.OrderLine
    extra = 0


@admin.register(models.Order)
class OrderAdmin(admin.ModelAdmin):
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
class TicketAdmin(admin.ModelAdmin):
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
class ScanLogAdmin(admin.ModelAdmin):
    list_display = ["at", "event", "result", "staff", "device_label", "ticket"]
    list_filter = ["result", "event"]
    raw_id_fields = ["ticket"]


@admin.register(models.WaitlistEntry)
class WaitlistEntryAdmin(admin.ModelAdmin):
    list_display = ["event", "name", "email", "quantity", "status", "created_at"]
    list_filter = ["status", "event"]


admin.site.register(models.Payment)
admin.site.register(models.ProviderEvent)
admin.site.register(models.StaffProfile)
admin.site.register(models.StaffInvite)
admin.site.register(models.ScannerDevice)
admin.site.register(models.AuditLogEntry)
admin.site.register(models.OutboundMessage)
