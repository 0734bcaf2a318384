"""The registry of built-in models: a model's name in a scenario file to its instance."""

from __future__ import annotations

from threatsim.models.contract import Model
from threatsim.models.coupled import CoupledModel
from threatsim.models.detention.model import DetentionModel
from threatsim.models.fighters import FightersModel
from threatsim.models.fighters_detention import MODEL_NAME as FIGHTERS_DETENTION
from threatsim.models.fighters_detention import FightersDetentionModel
from threatsim.models.financing import FinancingModel
from threatsim.models.financing_events import FinancingEventsModel

__all__ = ["MODELS", "get_model", "model_names"]

#: Every built-in model by the name a scenario's ``model`` key gives.
MODELS: dict[str, Model] = {
    "financing": FinancingModel(),
    "fighters": FightersModel(),
    "coupled": CoupledModel(),
    "detention": DetentionModel(),
    "financing_events": FinancingEventsModel(),
    FIGHTERS_DETENTION: FightersDetentionModel(),
}


def get_model(name: str) -> Model:
    """The registered model called *name* (raises KeyError).

    >>> get_model("financing").info.name
    'financing'
    """
    return MODELS[name]


def model_names() -> list[str]:
    """Names of the registered models.

    >>> model_names()
    ['coupled', 'detention', 'fighters', 'fighters_detention', 'financing', 'financing_events']
    """
    return sorted(MODELS)
