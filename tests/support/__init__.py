"""Helpers the tests import (never from conftest.py)."""
