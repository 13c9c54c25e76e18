"""psykhe: get a product catalog into the PSYKHE AI Ingestion API."""

__version__ = "0.1.0"
