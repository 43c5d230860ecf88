"""Faithful stand-ins for what cannot run here: Ollama, its model registry, its release archives.

- ``ollama``: executable stand-in for the Ollama binary (server + CLI), package ollama_standin/
- ``registry.py``: RegistryServer (models + GitHub release downloads) with fault injection
- ``models.py``: build models (GGUF + config + manifest) in Ollama's on-disk layout
- ``release.py``: Ollama release archives (.tgz / .tar.zst) and sha256sum.txt
- ``proxy.py``: a CONNECT proxy for HTTPS_PROXY tests
"""
