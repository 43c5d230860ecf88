"""set_fact: set host variables for the rest of the run, as ansible.builtin.set_fact."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from deployer.modules import register
from deployer.modules.base import Change, Module, ModuleArgs, TaskContext

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SetFactArgs(ModuleArgs):
    """Any key: value pairs (each key a variable name), plus cacheable."""

    model_config = ConfigDict(extra="allow", frozen=True)

    cacheable: bool = Field(False, description="Accepted for Ansible compatibility; facts last for this run only.")

    @model_validator(mode="after")
    def _names(self) -> "SetFactArgs":
        values = self.model_extra or {}
        if not values:
            raise ValueError("set_fact needs at least one name: value")
        for key in values:
            if not _NAME.fullmatch(str(key)):
                raise ValueError(f"'{key}' is not a valid variable name: use letters, digits and _ (not starting with a digit)")
        return self


@register
class SetFactModule(Module[SetFactArgs]):
    """Set variables on this host for later tasks and plays."""

    name = "set_fact"
    read_only = True
    Args = SetFactArgs
    needs_connection = False

    def check(self, ctx: TaskContext, args: SetFactArgs) -> Change | None:
        values: dict[str, Any] = dict(args.model_extra or {})
        ctx.set_vars(**values)
        ctx.report(ansible_facts=values)
        return None
