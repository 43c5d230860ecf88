"""The play's `models:` key: each entry becomes one ollama_model task, "Model <name> (<size>)".

Where Ollama listens, where its models live and who owns them come from the
play's `ollama:` key when it has one (listen, models_dir, mode, service_user,
https_proxy), else from the defaults of a system install on 127.0.0.1:11434.
Entries are checked here, before any host is touched: unknown keys, bad values,
model requests deployer.llm rejects, and names the catalogue does not know for
`size: auto`, each reported at its line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from deployer import yamlload
from deployer.errors import InputError, InputErrors, Location, did_you_mean
from deployer.llm.catalog import load_catalog
from deployer.llm.select import candidates_for, parse_request
from deployer.ollama.config import DEFAULT_ENDPOINT, SYSTEM_MODELS_DIR, USER_MODELS_DIR
from deployer.ollama.models import REQUEST_KEYS, OllamaModelArgs, catalog_sources
from deployer.ollama.registry import ModelName
from deployer.templating import has_template, is_template
from deployer.yamlload import YDict, YList

#: module arguments that come from the play's `ollama:` key, not from an entry
HOST_KEYS = ("endpoint", "models_dir", "service_user", "https_proxy")
ENTRY_KEYS = tuple(k for k in OllamaModelArgs.model_fields if k not in HOST_KEYS)
#: when the models tasks run among the stack keys: after ollama: (10), before frontend: (30) and verify: (100)
ORDER = 20


def host_args(ollama: Any) -> tuple[dict[str, Any], bool]:
    """(endpoint/models_dir/service_user/https_proxy args, become?) from the play's `ollama:` value.

    Without an `ollama:` key Ollama was installed by other means: the defaults
    of a system install, and no `become` beyond the play's own (pulls only
    talk to the API).
    """
    raw = ollama if isinstance(ollama, dict) else {}
    system = raw.get("mode", "system") != "user"
    args: dict[str, Any] = {
        "endpoint": raw.get("listen") or DEFAULT_ENDPOINT,
        "models_dir": raw.get("models_dir") or (SYSTEM_MODELS_DIR if system else USER_MODELS_DIR),
        "service_user": raw.get("service_user", "ollama") if system else None,
    }
    if raw.get("https_proxy"):
        args["https_proxy"] = raw["https_proxy"]
    # the models dir of a service this play installs belongs to the service user: writing there needs root
    become = system and isinstance(ollama, dict)
    return args, become


def _pydantic_errors(exc: ValidationError, entry: dict, loc: Location) -> list[InputError]:
    out = []
    for err in exc.errors():
        key = err["loc"][0] if err["loc"] else None  # no key: a rule about several keys, shown at the entry
        where = (yamlload.key_location(entry, key) if key in entry else None) or loc
        msg = err["msg"].removeprefix("Value error, ")
        out.append(InputError(f"models: '{key}': {msg}" if key else f"models: {msg}", where))
    return out


def check_entry(entry: dict, loc: Location, base_dir: Path, defaults: dict[str, Any]) -> list[InputError]:
    """Problems of one `models:` entry, each at its position."""
    errors: list[InputError] = []
    for key in entry:
        where = yamlload.key_location(entry, key) or loc
        if key in HOST_KEYS:
            errors.append(InputError(f"models: '{key}' is set by the play's `ollama:` key, not per model", where,
                                     "use ollama: listen / models_dir / service_user / https_proxy"))
        elif key not in ENTRY_KEYS:
            errors.append(InputError(f"models: unknown key '{key}'", where,
                                     did_you_mean(str(key), ENTRY_KEYS) or "a model takes: " + ", ".join(ENTRY_KEYS)))
    if "name" not in entry:
        errors.append(InputError("models: an entry needs 'name:' (e.g. name: deepseek-r1)", loc))
    if errors or has_template(entry):
        return errors  # templated values are checked when the task runs
    # the `ollama:` key's own templated values (listen: "127.0.0.1:{{ port }}") are checked when the task runs
    known = {k: v for k, v in defaults.items() if not has_template(v)}
    try:
        args = OllamaModelArgs.model_validate({**known, **entry})
    except ValidationError as exc:
        return _pydantic_errors(exc, entry, loc)
    if args.gguf is not None or args.state == "absent":
        return []
    request = YDict({"model": entry["name"], **{k: entry[k] for k in REQUEST_KEYS if k in entry}})
    request.loc = getattr(entry, "loc", loc)
    request.key_locs = {("model" if k == "name" else k): v for k, v in getattr(entry, "key_locs", {}).items()}
    try:
        parsed = parse_request(request, loc)
        catalog = load_catalog(catalog_sources(args, lambda p: Path(p) if Path(p).is_absolute() else base_dir / p))
        name = ModelName.parse(args.name)
        family = catalog.families.get(name.model)
        explicit = args.size != "auto" or ":" in args.name.rpartition("/")[2]
        if not explicit or (family is not None and (args.size if args.size != "auto" else name.tag) in family.tags):
            candidates_for(parsed, catalog)
    except InputError as exc:
        if exc.location is None:
            key = "context" if "context" in exc.message else "max_size" if "min_size and max_size" in exc.message else "name"
            exc = InputError(f"models: {exc.message}", yamlload.key_location(entry, key) or loc, exc.hint)
        errors.append(exc)
    return errors


def _label(entry: dict) -> str:
    name = str(entry.get("name", "?"))
    size = entry.get("size", "auto")
    if entry.get("gguf"):
        size = "gguf"
    elif size == "auto" and ":" in name.rpartition("/")[2]:
        size = name.rpartition(":")[2]
    return f"{size}, absent" if entry.get("state") == "absent" else str(size)


def expand(value: Any, play_raw: dict, location: Location) -> list[dict]:
    """The `models:` list -> one raw ollama_model task per entry."""
    if not isinstance(value, list) or not value:
        raise InputError("'models' must be a list of models", location, "e.g. '- name: deepseek-r1' with 'size: auto'")
    defaults, become = host_args(play_raw.get("ollama") if isinstance(play_raw, dict) else None)
    base_dir = Path(location.path).parent if location and location.path else Path.cwd()
    errors: list[InputError] = []
    tasks: list[dict] = []
    seen: dict[str, Location] = {}
    for i, entry in enumerate(value):
        eloc = value.item_locs[i] if isinstance(value, YList) else location
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            errors.append(InputError("a models: entry must be a mapping with 'name:' (or just a model name)", eloc))
            continue
        errors += check_entry(entry, eloc, base_dir, defaults)
        name = entry.get("name")
        if isinstance(name, str) and not is_template(name):
            if name in seen:
                errors.append(InputError(f"models: '{name}' is listed twice (first at line {seen[name].line})",
                                         yamlload.key_location(entry, "name") or eloc, "merge the two entries"))
            seen.setdefault(name, yamlload.key_location(entry, "name") or eloc)
        task: dict[str, Any] = {"name": f"Model {name} ({_label(entry)})", "ollama_model": {**defaults, **entry}}
        if become:
            task["become"] = True
        tasks.append(task)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return tasks
