"""The names fault rules match on: every counted, fault-injectable route (pure data, no web stack).

The CLI validates `--fault` before the web stack loads, so the names live here; a test checks they are
exactly the names the app registers, so a new route cannot be forgotten.
"""

from __future__ import annotations

ANY_ROUTE = "*"

SERVICE_API_ROUTES: tuple[str, ...] = (
    "create_deployment",
    "get_deployments",
    "get_deployment",
    "create_deployment_version",
    "get_deployment_versions",
    "get_deployment_version",
    "create_service",
    "get_services",
    "get_service",
    "update_service",
    "delete_service",
    "start_service",
    "stop_service",
    "get_service_recent_logs",
    "create_endpoint",
    "get_endpoints",
    "get_endpoint",
    "update_endpoint",
    "delete_endpoint",
)
INFERENCE_ROUTES: tuple[str, ...] = ("request_service", "request_endpoint", "service_health_check")
TRAINING_ROUTES: tuple[str, ...] = (
    "create_training_job_definition",
    "get_training_job_definitions",
    "get_training_job_definition",
    "create_training_job_definition_version",
    "get_training_job_definition_versions",
    "get_training_job_definition_version",
    "create_training_job",
    "get_training_jobs",
    "get_training_job",
    "stop_training_job",
    "get_training_result",
    "update_training_statistics",
    "get_training_job_recent_logs",
    "create_training_model",
    "get_training_models",
    "get_training_model",
    "download_training_result",
)
DATALAKE_ROUTES: tuple[str, ...] = (
    "create_channel",
    "list_channels",
    "get_channel",
    "patch_channel",
    "archive_channel",
    "unarchive_channel",
    "post_channel_file_upload",
    "get_channel_file_upload",
    "list_channel_files",
    "get_channel_file_download",
    "delete_channel_file",
    "put_channel_file_metadata",
    "put_channel_file_lifetime",
    "download_channel_file",
    "upload_channel_file_content",
)
RUN_ROUTES: tuple[str, ...] = (
    "create_run",
    "get_runs",
    "get_run",
    "get_run_logs",
    "get_run_recent_logs",
    "create_trigger",
    "get_triggers",
    "get_trigger",
    "delete_trigger",
    "get_trigger_runs",
)
FAULT_ROUTES: tuple[str, ...] = (
    SERVICE_API_ROUTES + INFERENCE_ROUTES + TRAINING_ROUTES + DATALAKE_ROUTES + RUN_ROUTES
)
