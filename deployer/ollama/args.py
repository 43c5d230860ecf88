"""Module arguments built from the `ollama:` key's schema, so each field is defined once.

``ollama_install`` and ``ollama_service`` each take a subset of
:class:`~deployer.ollama.config.OllamaConfig`'s fields (same names, types,
defaults, descriptions and validation) plus their own; :meth:`ConfigArgs.config`
gives the subset back as an ``OllamaConfig`` for its derived properties
(``port``, ``loopback``, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import create_model, field_validator

from deployer.modules.base import ModuleArgs
from deployer.ollama.config import OllamaConfig, parse_listen


class ConfigArgs(ModuleArgs):
    """Base of Args made by :func:`config_args`."""

    #: the OllamaConfig fields this Args carries (set by config_args)
    shared: ClassVar[tuple[str, ...]] = ()

    @field_validator("listen", check_fields=False)
    @classmethod
    def _listen(cls, v: str) -> str:
        return parse_listen(v)

    def config(self) -> OllamaConfig:
        """These arguments as an OllamaConfig (fields it lacks keep their defaults)."""
        return OllamaConfig.model_construct(**{name: getattr(self, name) for name in self.shared})


def config_args(name: str, base: type[ConfigArgs], fields: tuple[str, ...], module: str) -> Any:
    """A pydantic model `name` deriving from `base` with OllamaConfig's `fields` added."""
    definitions: dict[str, Any] = {f: (OllamaConfig.model_fields[f].annotation, OllamaConfig.model_fields[f]) for f in fields}
    model = create_model(name, __base__=base, __module__=module, **definitions)
    model.shared = fields
    return model
