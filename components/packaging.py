"""Lambda code and dependency layer, packaged deterministically.

An unchanged tree must preview with no diff: the code archive lists the source files one by one (no
``__pycache__``), and the layer zip is built once per requirements file, runtime and CPU architecture,
with fixed timestamps and sorted entries, and cached under ``build/`` by a hash of those inputs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
LAYER_REQUIREMENTS = FUNCTIONS_DIR / "requirements.txt"
LAMBDA_RUNTIME = "python3.13"
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
# The Lambda runtime ships these; keeping them out of the layer keeps it small.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
_SOURCE_SUFFIXES = (".py", ".json")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def build_dir() -> Path:
    """Where built layers are cached; ``GITHUB_AUTOMATION_BUILD_DIR`` moves it (CI caches, tests)."""
    return Path(os.environ.get("GITHUB_AUTOMATION_BUILD_DIR", ROOT / "build"))


def source_files() -> list[Path]:
    """The files of the Lambda code asset, in a stable order."""
    return sorted(
        path
        for path in FUNCTIONS_DIR.rglob("*")
        if path.is_file() and path.suffix in _SOURCE_SUFFIXES and "__pycache__" not in path.parts
    )


def function_code() -> pulumi.AssetArchive:
    """The ``functions`` package as Lambda code: handlers are ``functions.<module>.handler``."""
    return pulumi.AssetArchive(
        {path.relative_to(ROOT).as_posix(): pulumi.FileAsset(str(path)) for path in source_files()}
    )


def layer_zip_path(architecture: str) -> Path:
    digest = hashlib.sha256()
    digest.update(LAYER_REQUIREMENTS.read_bytes())
    digest.update(f"{LAMBDA_RUNTIME}/{architecture}/{','.join(RUNTIME_PROVIDED)}".encode())
    return build_dir() / f"layer-{LAMBDA_RUNTIME}-{architecture}-{digest.hexdigest()[:16]}.zip"


def dependency_layer(architecture: str) -> pulumi.FileArchive:
    """The dependency layer for ``architecture`` (arm64 | x86_64), built on first use."""
    path = layer_zip_path(architecture)
    if not path.exists():
        build_layer(architecture, path)
    return pulumi.FileArchive(str(path))


def build_layer(architecture: str, destination: Path) -> None:
    """pip-install the layer requirements for the Lambda platform and zip them reproducibly."""
    python_version = LAMBDA_RUNTIME.removeprefix("python")
    with tempfile.TemporaryDirectory() as work:
        site = Path(work) / "python"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--disable-pip-version-check",
                "--target",
                str(site),
                "--platform",
                PIP_PLATFORMS[architecture],
                "--implementation",
                "cp",
                "--python-version",
                python_version,
                "--only-binary=:all:",
                "-r",
                str(LAYER_REQUIREMENTS),
            ],
            check=True,
        )
        for name in RUNTIME_PROVIDED:
            for provided in site.glob(f"{name}*"):
                shutil.rmtree(provided) if provided.is_dir() else provided.unlink()
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_suffix(".partial")
        write_reproducible_zip(Path(work), partial)
        partial.replace(destination)


def write_reproducible_zip(source: Path, destination: Path) -> None:
    """Zip ``source``'s tree with sorted entries, fixed timestamps and modes: same tree, same bytes."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
