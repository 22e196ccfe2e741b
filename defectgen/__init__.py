"""The defectgen Python client: `Client(url, api_key)`, its errors and the resources it returns."""
from defectgen.client import Client
from defectgen.errors import DefectgenError, JobFailed, ServerUnavailable, WaitTimeout
from defectgen.schemas import (
    Backbone,
    Batch,
    Dataset,
    Delivery,
    DownloadUrl,
    Job,
    JobEvent,
    Model,
    Report,
    Sample,
    Webhook,
)

__all__ = ["Backbone", "Batch", "Client", "Dataset", "DefectgenError", "Delivery", "DownloadUrl", "Job", "JobEvent",
           "JobFailed", "Model", "Report", "Sample", "ServerUnavailable", "WaitTimeout", "Webhook"]
