"""Read-side data classes the screens may use (they never import the store themselves)."""

from d400tui.store.repositories import OrderFilter, OrderRow

__all__ = ["OrderFilter", "OrderRow"]
