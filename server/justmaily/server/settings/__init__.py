"""Typed settings per concern (`model.py`), read once at start-up (`loading.py`); relay
addresses as the settings and the API write them (`relay_urls.py`)."""

from justmaily.server.settings.loading import CONFIG_FILE_VARIABLE, ENV_PREFIX, SettingsError, load_settings
from justmaily.server.settings.model import (
    DEFAULT_PUBLIC_URL,
    DatabaseSettings,
    DeliverySettings,
    HttpSettings,
    IdentitySettings,
    LogSettings,
    MeshSettings,
    OpsSettings,
    ProtectionSettings,
    RoomSettings,
    Settings,
    TrustSettings,
    redact_url,
)

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "DEFAULT_PUBLIC_URL",
    "ENV_PREFIX",
    "DatabaseSettings",
    "DeliverySettings",
    "HttpSettings",
    "IdentitySettings",
    "LogSettings",
    "MeshSettings",
    "OpsSettings",
    "ProtectionSettings",
    "RoomSettings",
    "Settings",
    "SettingsError",
    "TrustSettings",
    "load_settings",
    "redact_url",
]
