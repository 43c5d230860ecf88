"""ollama_model: put a model on a host's Ollama (pull, offline bundle, or GGUF import), or remove it.

The tag is chosen per host (``size: auto``: deployer.llm from the host's facts)
and said with its one-line reason in the task's message, in ctx.report() and
in the host variable ``deployer_models[<name>]`` for later tasks. A model
Ollama already lists is left alone. Ollama is reached through an SSH tunnel to
its listen address; under --check, when it does not answer yet (an earlier task
would install it), the models dir is looked at instead and the task says what
it would do. The play's ``models:`` key expands into these tasks.
"""

from __future__ import annotations

from typing import Any

from deployer.errors import ModuleFailure, NotStaged
from deployer.modules import register
from deployer.modules.base import Change, Module, TaskContext
from deployer.ollama import models_pull, models_stack
from deployer.ollama.api import OllamaAPI
from deployer.ollama.bundle import Bundle, BundleError, bundle_dir
from deployer.ollama.models import OllamaModelArgs, Target, api_address, load, resolve
from deployer.ollama.models_gguf import ModelfileError, import_gguf, parse_modelfile
from deployer.ollama.models_host import HostStore, check_space, probe_store, push_bundle
from deployer.ollama.registry import ModelName, human_size
from deployer.playbook import register_stack_key
from deployer.transfer import local_artifact

NOT_ANSWERING_HINT = ("install and start it first (the play's `ollama:` key does both), check `endpoint`/`listen`, "
                      "or allow TCP forwarding in the host's sshd (deployer reaches Ollama through an SSH tunnel)")


@register
class OllamaModel(Module[OllamaModelArgs]):
    """Make a model present on (or absent from) a host's Ollama."""

    name = "ollama_model"
    Args = OllamaModelArgs
    provides_vars = ("deployer_models",)
    #: check() can plan from preset facts alone (`deployer run --facts`): ctx.connection is then None
    plans_from_facts = True

    # -- check ---------------------------------------------------------------
    def check(self, ctx: TaskContext, args: OllamaModelArgs) -> Change | None:
        target = resolve(args, ctx.facts, load(args, lambda p: ctx.local_path(p)))
        ctx.report(**target.report())
        existing = ctx.vars.get("deployer_models")
        ctx.set_vars(deployer_models={**(existing if isinstance(existing, dict) else {}), args.name: target.vars(args)})
        would = "would " if ctx.check_mode else ""
        if ctx.connection is None:  # planned from a facts file: the host is not contacted
            verb = "remove" if args.state == "absent" else "import" if args.gguf else "put"
            return Change(f"{would}{verb} {target.name}{target.size_text}: {target.reason}", data={"kind": "plan"})
        api = self._api(ctx, args)
        up = api.running()
        if not up and not ctx.check_mode:
            raise ModuleFailure(f"Ollama does not answer at {args.endpoint} on {ctx.host}", hint=NOT_ANSWERING_HINT)
        store = None if up else probe_store(ctx, args.models_dir, target.name, args.service_user)
        entry = _listed(api, target.name) if up else None
        digest = str(entry.get("digest") or "") if entry else store.manifest_sha256 if store else None
        present = bool(digest) or entry is not None
        where = "" if up else f" (in {store.models_dir if store else args.models_dir}; Ollama is not answering yet)"
        if args.state == "absent":
            if not present:
                ctx.report(msg=f"{target.name} is absent{where}")
                return None
            return Change(f"{would}remove {target.name}{where}", data={"kind": "absent", "api": api, "target": target})
        if present:
            ctx.report(msg=f"{target.name} is present{where}: {target.reason}")
            if args.source == "bundle" and digest:
                _compare_with_bundle(ctx, args, target.name, digest)
            return None
        data: dict[str, Any] = {"api": api, "target": target, "store": store}
        if args.gguf is not None:
            return self._plan_gguf(ctx, args, target, data, where)
        store = store or probe_store(ctx, args.models_dir, target.name, args.service_user)
        data["store"] = store
        if args.source == "bundle":
            bundle = _open_bundle(ctx, args, target.name)
            return self._plan_push(ctx, args, bundle, store, data, where)
        if target.size_bytes:
            check_space(ctx, store, target.size_bytes, target.name.short)
        if args.fallback_to_bundle:
            try:
                data["bundle"] = _open_bundle(ctx, args, target.name)
            except (BundleError, NotStaged) as exc:
                ctx.warn(f"fallback_to_bundle: {exc}")
        return Change(f"{would}pull {target.name}{target.size_text}{where}: {target.reason}", data={**data, "kind": "pull"})

    def _plan_gguf(self, ctx: TaskContext, args: OllamaModelArgs, target: Target, data: dict, where: str) -> Change:
        art = local_artifact(ctx.local_path(args.gguf or ""))
        try:
            fields = parse_modelfile(args.modelfile or "")
        except ModelfileError as exc:
            raise ModuleFailure(f"modelfile of {target.name}: {exc}")
        would = "would " if ctx.check_mode else ""
        summary = f"{would}import {art.path.name} ({human_size(art.size)}) as {target.name}{where}"
        return Change(summary, data={**data, "kind": "gguf", "art": art, "fields": fields})

    def _plan_push(self, ctx: TaskContext, args: OllamaModelArgs, bundle: Bundle, store: HostStore,
                   data: dict, where: str) -> Change:
        missing = store.missing(bundle)
        check_space(ctx, store, sum(b.size for b in missing) + len(bundle.manifest.raw), f"the bundle of {bundle.name}")
        if args.service_user and store.user_exists is False:
            if not ctx.check_mode:
                raise ModuleFailure(f"service user '{args.service_user}' does not exist on {ctx.host}",
                                    hint="install Ollama first (the `ollama:` key), or set ollama: service_user / mode: user")
            ctx.warn(f"service user '{args.service_user}' does not exist yet (an earlier task would create it)")
        kept = len(bundle.blobs) - len(missing)
        would = "would " if ctx.check_mode else ""
        summary = (f"{would}push bundle {bundle.name} ({len(missing)} blobs, {human_size(sum(b.size for b in missing))}"
                   + (f"; {kept} already on the host" if kept else "") + f"){where}")
        return Change(summary, data={**data, "kind": "bundle", "bundle": bundle})

    # -- apply ---------------------------------------------------------------
    def apply(self, ctx: TaskContext, args: OllamaModelArgs, change: Change) -> None:
        kind, api, target = change.data["kind"], change.data["api"], change.data["target"]
        if kind == "absent":
            api.delete(target.name.short)
            if _listed(api, target.name) is not None:
                raise ModuleFailure(f"{target.name} is still listed after DELETE /api/delete on {ctx.host}")
            change.summary = f"removed {target.name}"
            return
        if kind == "gguf":
            art = change.data["art"]
            sent = import_gguf(api, art, target.name.short, change.data["fields"], _progress(ctx, f"upload {art.path.name}", art.size))
            ctx.report(source="gguf", bytes_sent=art.size if sent else 0)
            change.summary = f"imported {art.path.name} as {target.name}"
        elif kind == "bundle":
            self._push(ctx, args, change.data["bundle"], change.data["store"], change)
        else:
            self._pull(ctx, args, api, target, change)
        _require_listed(ctx, api, target.name, args)

    def _pull(self, ctx: TaskContext, args: OllamaModelArgs, api: OllamaAPI, target: Target, change: Change) -> None:
        sink = ctx.progress_sink
        label = f"pull {target.name}"
        progress = (lambda done, total: sink(ctx.host, done, total, label)) if sink else None
        try:
            attempts = models_pull.pull(api, target.name.short, ctx.host, retries=args.retries, backoff=args.backoff,
                                        proxy=args.https_proxy, progress=progress)
        except models_pull.PullFailed as exc:
            if not (args.fallback_to_bundle and exc.offline):
                raise
            bundle = change.data.get("bundle")
            if bundle is None:
                raise ModuleFailure(f"{exc.message}; and there is no bundle to fall back to at "
                                    f"{bundle_dir(ctx.local_path(args.bundles), target.name)}",
                                    hint=exc.hint, data=exc.data) from None
            ctx.warn(f"{exc.message}; pushing the bundle from {bundle.path} instead")
            ctx.report(pull_error=exc.data.get("pull_error"))
            store = probe_store(ctx, args.models_dir, target.name, args.service_user)
            self._push(ctx, args, bundle, store, change)
            change.summary += " (the registry is unreachable from this host)"
            return
        ctx.report(source="pull", attempts=attempts)
        change.summary = f"pulled {target.name}{target.size_text}: {target.reason}"

    def _push(self, ctx: TaskContext, args: OllamaModelArgs, bundle: Bundle, store: HostStore, change: Change) -> None:
        result = push_bundle(ctx, bundle, store, args.service_user)
        ctx.report(source="bundle", bundle=str(bundle.path), blobs_sent=result.blobs_sent,
                   bytes_sent=result.bytes_sent, blobs_skipped=result.blobs_skipped)
        change.summary = (f"pushed bundle {bundle.name} ({result.blobs_sent} blobs, {human_size(result.bytes_sent)}"
                          + (f"; {result.blobs_skipped} already on the host" if result.blobs_skipped else "") + ")")

    # -- helpers -------------------------------------------------------------
    @staticmethod
    def _api(ctx: TaskContext, args: OllamaModelArgs) -> OllamaAPI:
        host, port = api_address(args.endpoint)
        local_host, local_port = ctx.tunnel(host, port)
        return OllamaAPI(f"http://{local_host}:{local_port}")


def _listed(api: OllamaAPI, name: ModelName) -> dict[str, Any] | None:
    """The /api/tags entry of `name`, or None."""
    for entry in api.tags():
        try:
            if ModelName.parse(str(entry.get("name") or entry.get("model") or "")).same(name):
                return entry
        except ValueError:
            continue
    return None


def _require_listed(ctx: TaskContext, api: OllamaAPI, name: ModelName, args: OllamaModelArgs) -> None:
    if _listed(api, name) is None:
        names = ", ".join(str(e.get("name")) for e in api.tags()) or "nothing"
        raise ModuleFailure(
            f"Ollama on {ctx.host} does not list {name} afterwards; it lists: {names}",
            hint=f"is the server's OLLAMA_MODELS {args.models_dir}? (models_dir in the play's `ollama:` key)",
        )


def _open_bundle(ctx: TaskContext, args: OllamaModelArgs, name: ModelName) -> Bundle:
    path = bundle_dir(ctx.local_path(args.bundles), name)
    if not path.exists():
        raise NotStaged(f"no bundle of {name} at {path}", str(path),
                        f"make one: `deployer stage` (from the registry), or `deployer bundle create {name} -o {args.bundles}`")
    bundle = Bundle.open(path)
    if not bundle.name.same(name):
        raise BundleError(f"the bundle at {path} holds {bundle.name}, not {name}", hint="re-create it")
    return bundle


def _compare_with_bundle(ctx: TaskContext, args: OllamaModelArgs, name: ModelName, digest: str) -> None:
    """Warn when the host has another version of the model than the bundle (it is left alone)."""
    path = bundle_dir(ctx.local_path(args.bundles), name)
    try:
        bundle = Bundle.open(path)
    except BundleError:
        return  # no usable bundle: nothing to compare with, and nothing is needed
    if bundle.manifest.digest != f"sha256:{digest.removeprefix('sha256:')}":
        ctx.warn(f"{ctx.host} has another version of {name} than the bundle at {path} "
                 f"({digest.removeprefix('sha256:')[:12]}, the bundle {bundle.manifest.digest[7:19]}); it is left as it is: "
                 "remove it first (state: absent) to replace it")


def _progress(ctx: TaskContext, label: str, total: int) -> Any:
    sink = ctx.progress_sink
    return (lambda done: sink(ctx.host, done, total, label)) if sink else None


register_stack_key("models", models_stack.ORDER, models_stack.expand)
