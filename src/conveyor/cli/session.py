"""The CLI's saved login: server URL and tokens in a 0600 file, never on the command line.

``conveyor login`` writes it; later commands read it, renew the access token with
the refresh token when needed, and write the rotated refresh token back (the old
one is spent: using it again would make the server revoke the whole session).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from conveyor.client.async_client import AsyncClient

DEFAULT_SERVER = "http://127.0.0.1:8080"


def session_path() -> Path:
    override = os.environ.get("CONVEYOR_SESSION_FILE")
    if override:
        return Path(override)
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "conveyor" / "session.json"


@dataclass
class Session:
    server_url: str
    access_token: str | None = None
    refresh_token: str | None = None
    username: str | None = None

    @classmethod
    def load(cls, server_url: str | None = None) -> Session:
        path = session_path()
        data: dict[str, str | None] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except ValueError:
                data = {}
        stored_server = data.get("server_url") or DEFAULT_SERVER
        server = server_url or os.environ.get("CONVEYOR_SERVER_URL") or stored_server
        if server.rstrip("/") != stored_server.rstrip("/"):
            return cls(server_url=server)
        return cls(
            server_url=server,
            access_token=data.get("access_token"),
            refresh_token=data.get("refresh_token"),
            username=data.get("username"),
        )

    def save(self) -> None:
        path = session_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(self), handle)

    def client(self, username: str | None = None, password: str | None = None) -> AsyncClient:
        token = os.environ.get("CONVEYOR_TOKEN") or self.access_token
        return AsyncClient(
            self.server_url,
            username=username,
            password=password,
            token=token,
            refresh_token=None if os.environ.get("CONVEYOR_TOKEN") else self.refresh_token,
        )

    def remember(self, client: AsyncClient) -> None:
        """Keep the tokens the client ended with (refreshes rotate them)."""
        if os.environ.get("CONVEYOR_TOKEN"):
            return
        if (client.auth.access_token, client.auth.refresh_token) != (
            self.access_token,
            self.refresh_token,
        ):
            self.access_token = client.auth.access_token
            self.refresh_token = client.auth.refresh_token
            self.save()
