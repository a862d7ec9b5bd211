"""The HTTP facade: FastAPI under /api/v1/schedules with the runbook's
monitoring endpoints. `api.main.create_app(settings)` builds the app."""
