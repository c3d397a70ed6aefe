"""Reference and demo data shipped inside the package (found the same from a wheel or a checkout)."""

from importlib.resources import files
from pathlib import Path


def data_path(name: str) -> Path:
    return Path(str(files(__name__).joinpath(name)))
