"""Models: the contract every model fulfils (:mod:`.contract`), one module or folder per
family, and the registry of built-in models (:mod:`.registry`).

Model families import the contract, never this package's ``__init__`` or the registry.
"""

from threatsim.models.contract import (
    LeverDecl,
    Model,
    ModelInfo,
    OutputDecl,
    ParameterDecl,
    ScenarioParts,
    SeriesDecl,
)
from threatsim.models.registry import MODELS, get_model, model_names

__all__ = ["MODELS", "LeverDecl", "Model", "ModelInfo", "OutputDecl", "ParameterDecl",
           "ScenarioParts", "SeriesDecl", "get_model", "model_names"]
