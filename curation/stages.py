"""The pipeline's stages in the order they run: the one list curation.pipeline and curation.report loop over.

Each stage is declared next to its job (curation.stage says what a declaration holds). A new stage is one
`Stage` subclass beside its job and one line here; README.md, "Adding a stage", walks through one.
"""

from curation.classifier import ClassifierStage
from curation.classify import ClassifyStage
from curation.decontaminate import DecontaminateStage
from curation.dedup import DedupStage
from curation.extract import ExtractStage
from curation.mixture import MixtureStage
from curation.rules.stage import RulesStage
from curation.stage import Stage

STAGES: tuple[Stage, ...] = (
    ExtractStage(),
    RulesStage(),
    ClassifierStage(),
    ClassifyStage(),
    DedupStage(),
    DecontaminateStage(),
    MixtureStage(),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)
