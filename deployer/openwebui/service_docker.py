"""Open WebUI in docker: check() compares, apply() makes exactly the difference.

- image: with image_tarball, the archive's image id (read locally) is looked
  up on the host; present = nothing to send, present under another name = a
  `docker tag`, absent = push (resumable, verified) + `docker load`. Without
  a tarball, a missing image is pulled (that needs the registry).
- secret key: generated on the host when its file is missing (secret.py).
- container: created when missing, recreated (``docker rm -f`` + ``docker
  run``; the volume keeps the data) when its normalized spec differs, started
  when it is stopped, left alone when it runs as wanted. --diff shows the spec
  before/after.
- then /health, and Ollama's models as seen from inside the container.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from deployer import transfer
from deployer.errors import ModuleFailure
from deployer.modules.base import Change, Diff, TaskContext
from deployer.openwebui import secret, spec, verify
from deployer.openwebui.config import OpenWebUIArgs
from deployer.openwebui.docker import Docker
from deployer.openwebui.imagefile import ImageArchive, matching_tag, read_archive
from deployer.openwebui.wiring import Wiring

#: where an image archive waits on the host between upload and `docker load`
STAGING = "/var/tmp/deployer/open-webui"


@dataclass
class Plan:
    image: str  # present | tag | load | pull
    secret: bool  # the key file must be generated
    container: str  # none | create | recreate | start | unpause
    archive: ImageArchive | None = None


def _image_step(ctx: TaskContext, args: OpenWebUIArgs, docker: Docker) -> tuple[str, str | None, ImageArchive | None]:
    """(what to do about the image, the image id the container will have, the archive)."""
    ref_id = docker.image_id(args.image_ref)
    if not args.image_tarball:
        return ("present" if ref_id else "pull"), ref_id, None
    archive = read_archive(ctx.local_path(args.image_tarball))
    if matching_tag(archive, args.image_ref) is None:
        raise ModuleFailure(
            f"image_tarball {args.image_tarball} holds {', '.join(archive.tags) or 'an untagged image'}, not {args.image_ref}",
            hint="set image: and tag: to the archive's name, or save the image under that name",
        )
    if ref_id in archive.ids:
        return "present", ref_id, archive
    if docker.image_id(archive.config_id):
        return "tag", archive.config_id, archive
    return "load", archive.config_id, archive


def check(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring, verify_now: bool = True) -> Change | None:
    """What would change; with nothing to change and `verify_now`, the UI's health and models are checked."""
    docker = Docker(ctx, args.docker_host)
    if docker.server_version() is None:
        if ctx.check_mode and ctx.earlier_changes_pending:
            return Change(f"would run Open WebUI in docker on {ctx.host} (docker is not installed yet)")
        raise ModuleFailure(f"no docker CLI on {ctx.host}", hint="install docker (docker.io or docker-ce), or use mode: pip")
    secret_path = args.default_secret_file()
    image, want_id, archive = _image_step(ctx, args, docker)
    has_secret = secret.present(ctx, secret_path)
    want = spec.desired(args, wiring, want_id, secret_path)
    data = docker.inspect(args.name)
    before = None
    if data is None:
        action, changed = "create", []
    else:
        have, state = spec.from_inspect(data, secret_path, has_secret and docker.secret_matches(args.name, secret_path))
        before = have.render(args.name, state)
        changed = have.differences(want)
        if image == "pull":
            changed.append("image (pulled)")
        if changed:
            action = "recreate"
        else:
            action = {"running": "none", "paused": "unpause"}.get(state, "start")
    if image == "present" and has_secret and action == "none":
        if verify_now:
            verify_running(ctx, args, wiring)
        return None
    steps = {
        "tag": f"tag image {want_id} as {args.image_ref}",
        "load": f"load {args.image_ref} from {args.image_tarball}",
        "pull": f"pull {args.image_ref}",
    }
    summary = [steps[image]] if image in steps else []
    if not has_secret:
        summary.append("generate the secret key")
    summary.append(
        {
            "create": f"create container {args.name}",
            "recreate": f"recreate container {args.name} ({', '.join(changed)} changed; volume kept)",
            "start": f"start container {args.name}",
            "unpause": f"unpause container {args.name}",
            "none": f"keep container {args.name}",
        }[action]
    )
    after = want.render(args.name, "running")
    return Change(
        "; ".join(summary),
        diffs=[Diff(f"container {args.name}", before, after)] if before != after else [],
        data={"plan": Plan(image, not has_secret, action, archive)},
    )


def apply(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring, change: Change) -> None:
    plan: Plan = change.data["plan"]
    docker = Docker(ctx, args.docker_host)
    secret_path = args.default_secret_file()
    if plan.image == "load":
        assert plan.archive is not None
        _load(ctx, args, docker, plan.archive)
    elif plan.image == "tag":
        assert plan.archive is not None
        docker.run(f"docker tag {plan.archive.config_id} {shlex.quote(args.image_ref)}", f"docker tag {args.image_ref}")
    elif plan.image == "pull":
        docker.run(f"docker pull {shlex.quote(args.image_ref)}", f"docker pull {args.image_ref}", timeout=3600)
    if plan.secret:
        secret.ensure(ctx, secret_path)
    if plan.container in ("create", "recreate"):
        if plan.container == "recreate":
            docker.run(f"docker rm -f {shlex.quote(args.name)}", f"docker rm {args.name}")
        docker.run(spec.run_command(args, wiring, secret_path), f"docker run {args.name}")
    elif plan.container in ("start", "unpause"):
        docker.run(f"docker {plan.container} {shlex.quote(args.name)}", f"docker {plan.container} {args.name}")
    ctx.report(image=args.image_ref, image_action=plan.image, container_action=plan.container)
    verify.health_or_fail(ctx, args, lambda: docker.logs_tail(args.name))
    verify.in_container(ctx, args, wiring, docker)


def verify_running(ctx: TaskContext, args: OpenWebUIArgs, wiring: Wiring) -> None:
    """The running container answers /health and sees Ollama's models."""
    docker = Docker(ctx, args.docker_host)
    verify.health_or_fail(ctx, args, lambda: docker.logs_tail(args.name))
    verify.in_container(ctx, args, wiring, docker)


def _load(ctx: TaskContext, args: OpenWebUIArgs, docker: Docker, archive: ImageArchive) -> None:
    art = transfer.local_artifact(archive.path)
    dest = f"{STAGING}/{archive.path.name}"
    sent = transfer.push(ctx, art, dest, mode="0600", label=f"push {archive.path.name}")
    docker.run(f"docker load -q -i {shlex.quote(dest)}", f"docker load {archive.path.name}", timeout=3600)
    transfer.forget(ctx, dest)
    got = docker.image_id(args.image_ref)
    if got not in archive.ids:
        raise ModuleFailure(f"after docker load, {args.image_ref} is {got or 'missing'}, not the archive's image {archive.short}")
    ctx.report(image_pushed_bytes=art.size if sent else 0)
