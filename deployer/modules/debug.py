"""debug: show a message or a variable's value, as ansible.builtin.debug.

Never touches the host. ``var`` is an expression evaluated with the host's
variables (``var: result.stdout_lines``); ``verbosity`` hides the task's
output below that many -v (read from the ``ansible_verbosity`` variable).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from pydantic import Field, model_validator

from deployer.modules import register
from deployer.modules.base import Change, Module, ModuleArgs, TaskContext
from deployer.templating import Templar, TemplateError

#: evaluates bare expressions (var, that); stateless apart from its template cache
_TEMPLAR = Templar()
NOT_DEFINED = "VARIABLE IS NOT DEFINED!"


def evaluate(expr: Any, variables: Mapping[str, Any]) -> Any:
    """The value of a bare Jinja2 expression with these variables."""
    return _TEMPLAR.evaluate(expr, variables)


def condition(expr: Any, variables: Mapping[str, Any]) -> bool:
    """A when/that-style condition with these variables."""
    return _TEMPLAR.condition(expr, variables)


def is_undefined(exc: TemplateError) -> bool:
    """The error is an undefined name or attribute (not a syntax or type error)."""
    text = str(exc)
    return "undefined" in text or "has no attribute" in text


class DebugArgs(ModuleArgs):
    msg: Any = Field("Hello world!", description="The message to show (any value: text, list, mapping).")
    var: str | None = Field(None, description="An expression whose value to show instead, e.g. 'result.stdout_lines'.")
    verbosity: int = Field(0, ge=0, le=5, description="Show only when run with at least this many -v.")

    @model_validator(mode="after")
    def _one(self) -> "DebugArgs":
        if self.var is not None and "msg" in self.model_fields_set:
            raise ValueError("give 'msg' or 'var', not both")
        return self


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


@register
class DebugModule(Module[DebugArgs]):
    """Print a message or a variable (status ok; never a change)."""

    name = "debug"
    read_only = True
    Args = DebugArgs
    needs_connection = False
    expression_fields = ("var",)

    def check(self, ctx: TaskContext, args: DebugArgs) -> Change | None:
        if args.verbosity > int(ctx.vars.get("ansible_verbosity", 0) or 0):
            ctx.report(skipped_reason=f"shown with -{'v' * args.verbosity} and more")
            return None
        if args.var is None:
            ctx.report(msg=args.msg)
            return None
        try:
            value = evaluate(args.var, ctx.vars)
        except TemplateError as exc:
            if not is_undefined(exc):
                raise
            value = NOT_DEFINED
        ctx.report(**{args.var: value, "msg": f"{args.var}: {_shown(value)}"})
        return None
