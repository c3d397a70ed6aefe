"""d400tui: telephone order entry with real-time card authorization."""

# Messages read as their reference (French) text in logs and tracebacks once i18n is loaded.
import d400tui.i18n.render  # noqa: F401
