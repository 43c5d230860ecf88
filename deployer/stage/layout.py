"""Where `deployer stage` puts each artefact under the artefacts directory (``-o DIR``)::

    DIR/MANIFEST.json                                     what is here (manifest.py)
    DIR/ollama-<version>/ollama-linux-<arch>[-rocm].<fmt>    release archives, upstream's names
    DIR/ollama-<version>/sha256sum.txt                    the release's own checksums
    DIR/bundles/<model>/<tag>/                            model bundles (deployer/ollama/bundle.py)
    DIR/<image>-<tag>.tar                                 `docker save` of the Open WebUI image
    DIR/wheelhouse/                                       wheels of open-webui and its dependencies

The names the example playbooks use (playbooks/*.yml, with DIR = playbooks/artifacts), e.g.
``tarball: artifacts/ollama-0.5.7/ollama-linux-{{ deployer_facts.arch }}.tgz``,
``bundles: artifacts/bundles``, ``image_tarball: artifacts/open-webui-main.tar``.
"""

from __future__ import annotations

import re
from pathlib import Path

from deployer.ollama.release import normalize_version


def release_dir(root: Path, version: str) -> Path:
    return root / f"ollama-{normalize_version(version)}"


def release_file(root: Path, version: str, name: str) -> Path:
    return release_dir(root, version) / name


def sums_file(root: Path, version: str) -> Path:
    return release_dir(root, version) / "sha256sum.txt"


def bundles_dir(root: Path) -> Path:
    return root / "bundles"


def image_file(root: Path, ref: str) -> Path:
    """ghcr.io/open-webui/open-webui:main -> DIR/open-webui-main.tar."""
    repo, _, tag = ref.rpartition(":")
    if "/" in tag or not repo:
        repo, tag = ref, "latest"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{repo.rsplit('/', 1)[-1]}-{tag}")
    return root / f"{name}.tar"


def wheelhouse_dir(root: Path) -> Path:
    return root / "wheelhouse"


def relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
