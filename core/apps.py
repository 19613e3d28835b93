from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Ticketing"

    def ready(self) -> None:
        from core import checks  # noqa: F401  (registers the system checks)
        from core.models import Event, TicketType
        from core.realtime import invalidate_snapshots_on_commit
        from ticketing import csrf

        csrf.install()  # Django's CSRF token masking, for less CPU per form

        # Saves outside the services (admin, shell) still expire cached snapshots.
        for model in (Event, TicketType):
            for name, signal in (("save", post_save), ("delete", post_delete)):
                signal.connect(
                    invalidate_snapshots_on_commit,
                    sender=model,
                    dispatch_uid=f"live-snapshots-{name}-{model.__name__}",
                )
