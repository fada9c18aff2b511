"""Python SDK for the CueKit daemon: `AsyncClient` (asyncio) and `Client` (blocking), both reconnecting."""

from app.client.client import AsyncClient, AuthError, ClientOptions
from app.client.sync import Client

__all__ = ["AsyncClient", "AuthError", "Client", "ClientOptions"]
