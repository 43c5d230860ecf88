"""A stand-in for Ollama (server, CLI, registry client) for deployer's tests.

Run as ``tests/fakes/ollama`` or as ``bin/ollama`` inside a release archive
built by tests/fakes/release.py (a self-contained zipapp with its version
baked in). Python 3.9+ standard library only: test hosts have only python3.

Real Ollama variables it honours: OLLAMA_HOST, OLLAMA_MODELS, OLLAMA_NOPRUNE,
OLLAMA_KEEP_ALIVE, OLLAMA_CONTEXT_LENGTH, OLLAMA_NUM_PARALLEL,
OLLAMA_MAX_LOADED_MODELS, OLLAMA_GPU_OVERHEAD, HTTPS_PROXY/HTTP_PROXY/NO_PROXY,
CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, HOME.

Stand-in knobs (tests set them; product code never does), read from the
environment, else from the file named by FAKE_OLLAMA_ENV_FILE (default
/etc/fake-ollama.env, KEY=value lines):

  FAKE_OLLAMA_REGISTRY_URL          http://HOST:PORT that stands for https://registry.ollama.ai
                                    (unset: the registry is unreachable, as on an air-gapped node)
  FAKE_OLLAMA_DIAL_TIMEOUT          seconds before "dial tcp ...: i/o timeout" (default 30, Go's)
  FAKE_OLLAMA_TLS_HANDSHAKE_TIMEOUT seconds a registry may stay silent (default 10, Go's)
  FAKE_OLLAMA_RETRY_BASE_SECONDS    first retry sleep of a failed blob part (default 1; doubles)
  FAKE_OLLAMA_TOKENS_PER_SECOND     generation speed (default 50)
  FAKE_OLLAMA_CPU_TOKENS_PER_SECOND speed when the model does not fit the GPU (default: same)
  FAKE_OLLAMA_PROMPT_TOKENS_PER_SECOND  prompt evaluation speed (default 10x generation)
  FAKE_OLLAMA_RESPONSE_TOKENS       answer length when num_predict does not cut it (default 64)
  FAKE_OLLAMA_LOAD_SECONDS          cold model load time (default 0.1)
  FAKE_OLLAMA_VRAM_BYTES            the fake GPU's memory (default 0: no GPU, "100% CPU")
  FAKE_OLLAMA_GPU_VENDOR            nvidia (default) or amd
  FAKE_OLLAMA_RAM_BYTES             system memory; a CPU share above it fails the load (default: no limit)
  FAKE_OLLAMA_VERSION               version of the unpacked script (packed binaries ignore it)
"""
