"""Names of the events model synchronisation records (past tense, like the runtime's)."""

from __future__ import annotations

__all__ = [
    "MODEL_DRIFT_DETECTED",
    "MODEL_FAILED",
    "MODEL_ROLLED_BACK",
    "MODEL_VERSION_ACTIVATED",
    "MODEL_VERSION_CREATED",
    "MODEL_VERSION_REJECTED",
]

MODEL_DRIFT_DETECTED = "ModelDriftDetected"
MODEL_FAILED = "ModelFailed"
MODEL_VERSION_CREATED = "ModelVersionCreated"
MODEL_VERSION_ACTIVATED = "ModelVersionActivated"
MODEL_VERSION_REJECTED = "ModelVersionRejected"
MODEL_ROLLED_BACK = "ModelRolledBack"
