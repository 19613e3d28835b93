from django.apps import AppConfig


class ScannerConfig(AppConfig):
    name = "scanner"

    def ready(self) -> None:
        from scanner import signals  # noqa: F401  (connects the receivers)
