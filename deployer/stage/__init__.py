"""`deployer stage`: download, on a connected machine, what an air-gapped rollout needs.

    plan.py       what a playbook needs per targeted host (the run's own code: sources.choose,
                  the model fitting, the Open WebUI arguments), from live or file facts
    http.py       the download client: redirects followed, proxies and CA bundle from the
                  environment given, resumable, sha256-verified
    releases.py   Ollama release archives + sha256sum.txt
    models.py     model tags straight from the registry's manifest/blob endpoints into bundles
    openwebui.py  the Open WebUI image (`docker pull` + `docker save`) or a pip wheelhouse
    manifest.py   MANIFEST.json of the artefacts directory: what, version, digest, size
    layout.py     where each artefact goes under the artefacts directory
    run.py        one staging pass over a plan; a rerun fetches nothing present and verified
"""
