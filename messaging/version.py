"""The service's version: the package metadata, the OpenAPI document, /health and a metric."""

__version__ = "1.1.0"
