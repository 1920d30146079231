"""Connections VE↔PE: keeping virtual models consistent with their assets.

State estimation (:class:`UnscentedKalmanFilter`, :class:`ParticleFilter`, both
vectorised over a fleet), calibration with physics priors (:func:`calibrate`),
consistency monitoring (:class:`ConsistencyMonitor`, :class:`Cusum`,
:class:`PageHinkley`), versioned model update (:class:`VersionKeeper`), the pure
synchronisation loop (:class:`FleetTracker`) and the runtime service that runs it
live (:class:`SyncService`).
"""

from twinworks.sync.calibration import Calibration, Window, calibrate, evaluate, filter_window
from twinworks.sync.consistency import ConsistencyMonitor, ConsistencyReport
from twinworks.sync.drift import Cusum, PageHinkley
from twinworks.sync.particle import ParticleFilter
from twinworks.sync.service import SyncService, services_for
from twinworks.sync.tracker import FleetTracker, StepResult, UpdateJob, UpdateOutcome
from twinworks.sync.ukf import Innovation, UnscentedKalmanFilter
from twinworks.sync.versions import UnknownModelVersionError, VersionKeeper

__all__ = [
    "Calibration",
    "ConsistencyMonitor",
    "ConsistencyReport",
    "Cusum",
    "FleetTracker",
    "Innovation",
    "PageHinkley",
    "ParticleFilter",
    "StepResult",
    "SyncService",
    "UnknownModelVersionError",
    "UnscentedKalmanFilter",
    "UpdateJob",
    "UpdateOutcome",
    "VersionKeeper",
    "Window",
    "calibrate",
    "evaluate",
    "filter_window",
    "services_for",
]
