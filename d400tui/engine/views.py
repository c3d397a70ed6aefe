"""Read-side data classes the screens may use (they never import the store themselves)."""

from d400tui.domain.read_models import ChainCheck, OrderFilter, OrderRow

__all__ = ["ChainCheck", "OrderFilter", "OrderRow"]
