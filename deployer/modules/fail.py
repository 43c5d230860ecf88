"""fail: fail the host with a message, as ansible.builtin.fail (usually with `when`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from deployer.errors import ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Module, ModuleArgs, TaskContext


class FailArgs(ModuleArgs):
    msg: Any = Field("Failed as requested from task", description="The failure message.")


@register
class FailModule(Module[FailArgs]):
    """Fail the host."""

    name = "fail"
    read_only = True
    Args = FailArgs
    needs_connection = False

    def check(self, ctx: TaskContext, args: FailArgs) -> Change | None:
        raise ModuleFailure(str(args.msg))
