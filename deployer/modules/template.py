"""template: render a Jinja2 file from the control machine with the host's
variables and put the result on the host, as ansible.builtin.template.

Rendering happens in check() (it reads only the control machine); the rest is
copy's planning: sha256-idempotent, atomic, with validate/backup and a diff of
the rendered text.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from deployer.errors import DeployerError, ModuleFailure
from deployer.modules import register
from deployer.modules.base import Change, Module, TaskContext
from deployer.modules.copy import WriteArgs, apply_plan, into_dir, plan_file

#: what `{{ ansible_managed }}` renders to in a template
MANAGED = "Managed by deployer: local changes will be overwritten"


class TemplateArgs(WriteArgs):
    src: str = Field(
        description="Jinja2 template on the control machine: relative to the playbook's directory, "
        "or to its templates/ folder.",
    )


def find_template(ctx: TaskContext, src: str) -> Path:
    """The template file: src as given, else under the playbook's templates/ folder."""
    direct = ctx.local_path(src)
    for candidate in (direct, ctx.local_path(Path("templates") / src)):
        if candidate.is_file():
            return candidate
    raise ModuleFailure(
        f"template {src!r} not found on the control machine",
        hint=f"looked at {direct} and {ctx.local_path(Path('templates') / src)}",
    )


@register
class TemplateModule(Module[TemplateArgs]):
    """Render a template with the host's variables and write it to dest."""

    name = "template"
    Args = TemplateArgs

    def check(self, ctx: TaskContext, args: TemplateArgs) -> Change | None:
        path = find_template(ctx, args.src)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ModuleFailure(f"template {path} is not UTF-8 text: {exc}")
        dest, st = into_dir(ctx, args.dest, path.name)
        extra = {
            "ansible_managed": MANAGED,
            "template_path": args.src,
            "template_fullpath": str(path.resolve()),
            "template_destpath": dest,
        }
        try:
            rendered = ctx.render(text, extra)
        except DeployerError as exc:
            raise ModuleFailure(f"template {path}: {exc}")
        plan, notes, diffs = plan_file(ctx, args, dest, rendered.encode("utf-8"), local_mode=path.stat().st_mode & 0o7777, st=st)
        return Change("; ".join(notes), diffs, {"plan": plan}) if plan else None

    def apply(self, ctx: TaskContext, args: TemplateArgs, change: Change) -> None:
        plan = change.data["plan"]
        backup = apply_plan(ctx, args, plan)
        ctx.report(dest=plan.dest, checksum=plan.sha256, size=plan.size)
        if backup:
            ctx.report(backup_file=backup)
