"""A stand-in for Open WebUI (its real image is 4-6 GB and needs the internet to build).

- ``open_webui/``: the stand-in package itself - the `open-webui serve` command
  line and a standard-library server with the endpoints deployer uses
  (/health, /api/config, signup/signin, sessions signed with
  WEBUI_SECRET_KEY, /ollama/api/tags); see open_webui/server.py for what is
  faithful to upstream and the FAKE_OPENWEBUI_* knobs.
- ``image.py``: a rootfs (busybox + this machine's python3.11 + the package,
  laid out as the official image: /app/backend, start.sh reading HOST/PORT,
  data in /app/backend/data) for `docker import`, tagged
  ghcr.io/open-webui/open-webui:<tag> and `docker save`d for image_tarball.
- ``wheel.py``: an ``open_webui-<version>-py3-none-any.whl`` with the
  ``open-webui`` console script, for pip mode's wheelhouse.
"""
