"""assert: fail the host unless every expression holds, as ansible.builtin.assert."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator

from deployer.errors import ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Module, ModuleArgs, TaskContext
from deployer.modules.debug import condition, is_undefined
from deployer.templating import TemplateError


class AssertArgs(ModuleArgs):
    that: list[str | bool] = Field(description="An expression, or a list of them, that must all be true (e.g. 'x is defined', 'n > 2').")
    fail_msg: Any = Field(None, validation_alias=AliasChoices("fail_msg", "msg"), description="Message when an assertion fails (alias: msg).")
    success_msg: Any = Field(None, description="Message when all assertions pass.")
    quiet: bool = Field(False, description="No message when all pass.")

    @field_validator("that", mode="before")
    @classmethod
    def _listed(cls, v: Any) -> Any:
        return v if isinstance(v, list) else [v]


@register
class AssertModule(Module[AssertArgs]):
    """Check conditions on the host's variables; a false one fails the host."""

    name = "assert"
    read_only = True
    Args = AssertArgs
    needs_connection = False
    expression_fields = ("that",)

    def check(self, ctx: TaskContext, args: AssertArgs) -> Change | None:
        for expr in args.that:
            try:
                holds = condition(expr, ctx.vars)
            except TemplateError as exc:
                # under --check a registered result of a task that did not run lacks its values
                if not (ctx.check_mode and ctx.earlier_changes_pending and is_undefined(exc)):
                    raise
                ctx.report(msg=f"not checked under --check: {expr} needs values an earlier change would produce ({exc})")
                return None
            if not holds:
                raise ModuleFailure(
                    str(args.fail_msg) if args.fail_msg is not None else f"assertion failed: {expr}",
                    data={"assertion": expr, "evaluated_to": False},
                )
        if not args.quiet:
            ctx.report(msg=args.success_msg if args.success_msg is not None else "all assertions passed")
        return None
