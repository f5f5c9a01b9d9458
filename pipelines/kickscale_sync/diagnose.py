"""`kickscale-sync doctor`: say exactly what is wrong with a setup, one check per line."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from kickscale_sync.client import ClientConfig, KickscaleClient, KickscaleError
from kickscale_sync.config import Profile, resolve_base_url, resolve_credentials
from kickscale_sync.destinations import Destination, DestinationLocked


def diagnose(profile: Profile) -> Iterator[tuple[bool, str]]:
    """(ok, message) for the profile, the base URL, the credentials and the destination."""
    yield (
        True,
        f"profile {profile.name}: destination {profile.destination.kind} at {Destination(profile.destination).location}",
    )
    base_url = resolve_base_url(profile)
    if not httpx.URL(base_url).scheme.startswith("http"):
        yield (
            False,
            f"base URL {base_url!r} is not an http(s) URL: set SOURCES__KICKSCALE__BASE_URL or kickscale.base_url",
        )
        return
    credentials = resolve_credentials()
    try:
        credentials.check()
    except KickscaleError as error:
        yield False, str(error)
        return
    yield True, "credentials are set (values not shown)"
    try:
        with KickscaleClient(
            credentials, ClientConfig(base_url=base_url, max_attempts=2, timeout_seconds=15)
        ) as client:
            client.check_credentials()
        yield (
            True,
            f"Kickscale at {base_url} accepted the credentials (GET /meetings?page=0&pageSize=1)",
        )
    except KickscaleError as error:
        yield False, str(error)
    destination = Destination(profile.destination)
    try:
        destination.wait_until_writable()
        yield True, f"destination {destination.location} is writable"
    except DestinationLocked as error:
        yield False, str(error)
