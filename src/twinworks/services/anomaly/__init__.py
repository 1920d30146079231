"""Streaming anomaly detection that learns an asset's normal behaviour online."""

from twinworks.services.anomaly.detector import GaussianAnomalyDetector, OnlineGaussian

__all__ = ["GaussianAnomalyDetector", "OnlineGaussian"]
