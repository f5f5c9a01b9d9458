"""A local Kickscale: the API contract over real sockets, with seeded data and faults on demand.

with Sandbox(WorkspaceSpec(meetings=500, calls=500)) as sandbox:
    httpx.get(f"{sandbox.url}/meetings", headers=sandbox.auth_headers)
    sandbox.advance(days=1)
    sandbox.faults = Faults(error_rate=0.2)
"""

from __future__ import annotations

import threading
from collections import Counter
from types import TracebackType
from typing import Any

from kickscale_sync import settings as api
from kickscale_sync.sandbox.faults import Faults
from kickscale_sync.sandbox.server import SandboxServer, control_state
from kickscale_sync.sandbox.workspace import Workspace, WorkspaceSpec

DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_CLIENT_ID = "sandbox-client"

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CLIENT_ID",
    "Faults",
    "Sandbox",
    "Workspace",
    "WorkspaceSpec",
]


class Sandbox:
    """Runs the sandbox server in a background thread; binds a free port unless given one."""

    def __init__(
        self,
        spec: WorkspaceSpec | None = None,
        *,
        faults: Faults | None = None,
        api_key: str = DEFAULT_API_KEY,
        client_id: str = DEFAULT_CLIENT_ID,
        host: str = "127.0.0.1",
        port: int = 0,
        max_upload_bytes: int = api.UPLOAD_MAX_BYTES,
    ) -> None:
        self.workspace = Workspace(spec or WorkspaceSpec(client_id=client_id))
        self.api_key = api_key
        self.client_id = client_id
        self._server = SandboxServer(
            (host, port),
            self.workspace,
            api_key=api_key,
            client_id=client_id,
            faults=faults,
            max_upload_bytes=max_upload_bytes,
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def auth_headers(self) -> dict[str, str]:
        return {api.API_KEY_HEADER: self.api_key, api.CLIENT_ID_HEADER: self.client_id}

    @property
    def faults(self) -> Faults:
        return self._server.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._server.set_faults(faults)

    @property
    def stats(self) -> Counter[str]:
        return self._server.stats

    @property
    def peak_in_flight(self) -> int:
        return self._server.peak_in_flight

    @property
    def uploads(self) -> list[dict[str, Any]]:
        return self._server.uploads

    def state(self) -> dict[str, Any]:
        return control_state(self._server)

    def advance(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> None:
        self.workspace.advance(int(days * 86_400 + hours * 3_600 + seconds))

    def start(self) -> Sandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's foreground mode)."""
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
