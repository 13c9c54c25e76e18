"""psykhe: get a product catalog into the PSYKHE AI Ingestion API."""

import sys

__version__ = "0.1.0"

# httpx imports its own command-line tool, and with it rich's console and click (~70 ms),
# whenever both are installed, as they are with psykhe (uvicorn needs click). psykhe never
# calls it: a None in sys.modules makes that import fail the way httpx expects without them.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
