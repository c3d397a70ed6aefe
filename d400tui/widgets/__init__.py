"""Green-screen building blocks shared by every panel."""

from .field import EntryField
from .fkeys import FKeyLegend
from .header import HeaderLine
from .message import MessageLine
from .subfile import Subfile

__all__ = ["EntryField", "FKeyLegend", "HeaderLine", "MessageLine", "Subfile"]
