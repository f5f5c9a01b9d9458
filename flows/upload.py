"""The upload flow: send the calls of a manifest to Kickscale, skipping what the ledger has."""

from __future__ import annotations

from pathlib import Path

from kickscale_flows.common import artifact_key
from kickscale_sync.config import load_profile
from kickscale_sync.upload import UploadRun
from kickscale_sync.upload import upload_calls as upload_manifest
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE


@task(cache_policy=NO_CACHE)
def upload_task(profile_name: str, manifest: str, dry_run: bool) -> UploadRun:
    return upload_manifest(load_profile(profile_name), Path(manifest), dry_run=dry_run)


@flow(name="upload-calls")
def upload_calls(profile: str, manifest: str, dry_run: bool = False) -> dict:
    """Validate the manifest, upload new calls, record each in the ledger; fails if any failed."""
    run = upload_task(profile, manifest, dry_run)
    get_run_logger().info(run.render(dry_run=dry_run))
    create_markdown_artifact(
        key=artifact_key("upload", load_profile(profile)),
        markdown=f"# kickscale upload\n\n```\n{run.render(dry_run=dry_run)}\n```\n",
        description=f"upload of {manifest}",
    )
    if run.failed:
        raise RuntimeError(f"{len(run.failed)} uploads failed: " + "; ".join(run.failed.values()))
    return {"uploaded": run.uploaded, "skipped": run.skipped, "planned": run.planned}
