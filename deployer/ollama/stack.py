"""The play-level `ollama:` key -> two ordinary tasks.

    ollama: {version: "0.5.7", source: {tarball: ...}, mode: system}
    =>  - name: Install Ollama 0.5.7          ollama_install: {version, source, rollback, mode, prefix}
        - name: Configure and start Ollama    ollama_service: {mode, listen, models_dir, ...}

Both run with ``become: true`` in system mode (root is what that mode means)
and ``become: false`` in user mode (the login user's own Ollama). The key is
validated here, with positions, before any host is touched; a non-loopback
``listen`` without ``allow_public_bind: true`` is refused here too.
OLLAMA_CONTEXT_LENGTH defaults to the largest ``context`` of the play's
``models:`` entries (explicit, because Ollama's own default grows with VRAM).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from deployer import yamlload
from deployer.errors import InputError, InputErrors, Location, did_you_mean
from deployer.ollama.config import OllamaConfig, OllamaSource
from deployer.ollama.service_files import BIND_HINT, bind_problem, env_problems
from deployer.ollama.sources import source_problem
from deployer.templating import has_template, is_template

INSTALL_FIELDS = ("version", "source", "rollback", "mode", "prefix", "transfer")
SERVICE_FIELDS = (
    "mode", "prefix", "listen", "allow_public_bind", "models_dir", "service_user", "context_length",
    "num_parallel", "keep_alive", "max_loaded_models", "kv_cache_type", "flash_attention",
    "https_proxy", "no_proxy", "gpus", "env",
)  # fmt: skip


def _value_at(data: Any, path: tuple) -> Any:
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _schema_errors(value: dict, loc: Location) -> tuple[list[InputError], OllamaConfig | None]:
    """Validate against OllamaConfig; values that are templates are checked after rendering, on the host."""
    try:
        return [], OllamaConfig.model_validate(value)
    except ValidationError as exc:
        errors: list[InputError] = []
        seen: set[tuple] = set()
        for err in exc.errors():
            path = tuple(err["loc"])
            if path in seen or any(has_template(_value_at(value, path[:i])) for i in range(1, len(path) + 1)):
                continue
            seen.add(path)
            where = yamlload.locate(value, path, loc) or loc
            key = "ollama." + ".".join(str(p) for p in path)
            if err["type"] == "extra_forbidden":
                known = set(OllamaConfig.model_fields) if len(path) == 1 else set(OllamaSource.model_fields)
                hint = did_you_mean(str(path[-1]), known) or "it takes: " + ", ".join(sorted(known))
                errors.append(InputError(f"unknown key '{path[-1]}' in {key.rsplit('.', 1)[0]}", where, hint))
            elif err["type"] == "missing":
                errors.append(InputError(f"missing required key '{key}'", loc, f"add '{path[-1]}:', e.g. version: \"0.5.7\""))
            else:
                msg = err["msg"].removeprefix("Value error, ")
                errors.append(InputError(f"{key}: {msg} (got {err.get('input')!r:.60})", where))
        return errors, None


def models_context(play_raw: dict) -> int | None:
    """The largest plain-integer `context` among the play's `models:` entries."""
    entries = play_raw.get("models")
    contexts = [
        e["context"] for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict) and isinstance(e.get("context"), int) and not isinstance(e.get("context"), bool)
    ]  # fmt: skip
    return max(contexts) if contexts else None


def _bind_error(value: dict, loc: Location) -> InputError | None:
    listen = value.get("listen")
    allow = value.get("allow_public_bind")
    if not isinstance(listen, str) or is_template(listen) or is_template(allow):
        return None
    try:
        cfg = OllamaConfig.model_construct(listen=OllamaConfig._listen(listen), allow_public_bind=allow is True)
    except ValueError:
        return None  # reported by the schema check
    problem = bind_problem(cfg)
    if problem is None:
        return None
    return InputError(f"ollama.{problem}", yamlload.key_location(value, "listen") or loc, BIND_HINT)


def expand_ollama(value: Any, play_raw: dict, loc: Location) -> list[dict]:
    """The `ollama:` key's tasks; raises InputError(s) for a bad key."""
    if not isinstance(value, dict):
        raise InputError(
            "'ollama' must be a mapping", loc,
            "e.g. ollama: {version: \"0.5.7\", source: {tarball: artifacts/ollama-linux-amd64.tgz}}",
        )  # fmt: skip
    errors, cfg = _schema_errors(value, loc)
    bind = _bind_error(value, loc)
    if bind is not None:
        errors.append(bind)
    if cfg is not None:
        errors += [InputError(f"ollama.{p}", yamlload.key_location(value, "env") or loc) for p in env_problems(cfg)]
        problem = None if cfg.rollback else source_problem(cfg.source)
        if problem:
            errors.append(InputError(f"ollama.{problem[0]}", yamlload.key_location(value, "source") or loc, problem[1]))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    install = {k: value[k] for k in INSTALL_FIELDS if k in value}
    service = {k: value[k] for k in SERVICE_FIELDS if k in value}
    if "context_length" not in service:
        context = models_context(play_raw)
        if context is not None:
            service["context_length"] = context
    mode = value.get("mode", "system")
    become: dict[str, Any] = {} if is_template(mode) else {"become": mode == "system"}
    version = value.get("version")
    install_name = f"Roll back Ollama from {version}" if value.get("rollback") is True else f"Install Ollama {version}"
    return [
        {"name": install_name, "ollama_install": install, **become},
        {"name": "Configure and start Ollama", "ollama_service": service, **become},
    ]
