"""The one analysis path: frame -> motion gate -> detector -> tracker -> rules -> outcomes, with the evidence
plan (snapshot, clip). The daemon's workers, `sentinel replay` and bench/ all run `CameraPipeline`."""

from sentinel.pipeline.batch import BatchOutcome, analyse_batch
from sentinel.pipeline.camera import CONDITION_REPEAT, CameraCounts, CameraPipeline, camera_rules
from sentinel.pipeline.outcomes import ClipPlan, ConditionChange, FrameOutcome, RuleAlert, new_alert_id

__all__ = [
    "CONDITION_REPEAT",
    "BatchOutcome",
    "CameraCounts",
    "CameraPipeline",
    "ClipPlan",
    "ConditionChange",
    "FrameOutcome",
    "RuleAlert",
    "analyse_batch",
    "camera_rules",
    "new_alert_id",
]
