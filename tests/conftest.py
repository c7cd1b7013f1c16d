"""Session-wide fixtures (defined in their own modules)."""

from tests.installed import installed_venv

__all__ = ["installed_venv"]
