"""psykhe: get a product catalog into the PSYKHE AI Ingestion API."""

import sys

__version__ = "0.1.0"

# httpx imports its own command-line tool, and with it rich's console and click (~70 ms),
# whenever both are installed: rich always is, click with the sandbox (uvicorn needs it).
# psykhe never calls that tool: a None in sys.modules makes the import fail the way httpx
# expects when they are missing.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
