"""Lambda code and dependency layer, packaged deterministically and precompiled for the runtime.

An unchanged tree must preview with no diff: the code archive lists the files one by one, and the layer
zip is built once per requirements file, runtime, CPU architecture and build recipe, with fixed
timestamps and sorted entries, and cached under ``build/`` by a hash of those inputs.

Both ship bytecode. Lambda's ``/var/task`` and ``/opt`` are read-only, so a module without its ``.pyc``
is compiled again at every cold start (the layer alone holds some 870 modules). The bytecode is compiled
by a Python 3.13 interpreter (the runtime's: the ``.pyc`` magic number is per minor version) with
``--invalidation-mode unchecked-hash``: no source mtime in the header, and the runtime loads it without
checking the source, so the same sources give the same bytes. ``PYTHONHASHSEED=0`` fixes the order in
which constant frozensets are marshalled, and the file names compiled in are the ones Lambda sees
(``/opt/python/...``, ``/var/task/...``), not this machine's temporary directory.

The layer leaves out what the python3.13 runtime already ships: the SDK for Python (boto3, botocore,
s3transfer) and its dependencies (jmespath, urllib3, python-dateutil, six). The runtime's copies are
precompiled; a layer copy would shadow them (``/opt/python`` comes first on ``sys.path``), be compiled
at every cold start, and risk the version skew AWS warns about (a layer's urllib3 under the runtime's
botocore).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
LAYER_REQUIREMENTS = FUNCTIONS_DIR / "requirements.txt"
LAMBDA_RUNTIME = "python3.13"
RUNTIME_PYTHON_VERSION = (3, 13)
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
#: Distributions the Lambda python3.13 runtime ships (the SDK and what it depends on), left out of the layer.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
#: Distributions the layer left out before it was pruned to the runtime (``make bench`` measures both).
SDK_ONLY = ("boto3", "botocore", "s3transfer")
#: Where Lambda puts the layer's ``python/`` directory and the function code.
LAYER_MOUNT = "/opt"
TASK_ROOT = "/var/task"
#: Which interpreter compiles the bytecode: this variable, else the first Python 3.13 found.
PYTHON_ENV = "LAMBDA_PYTHON"
_SOURCE_SUFFIXES = (".py", ".json")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_RECIPE = Path(__file__).read_bytes()  # any change to how layers are built changes their cache key


class NoRuntimePython(RuntimeError):
    """No Python 3.13 interpreter to compile the bytecode with."""


def build_dir() -> Path:
    """Where built layers are cached; ``GITHUB_AUTOMATION_BUILD_DIR`` moves it (CI caches, tests)."""
    return Path(os.environ.get("GITHUB_AUTOMATION_BUILD_DIR", ROOT / "build"))


# --- the interpreter that compiles -------------------------------------------------------------------


def _python_candidates() -> list[str]:
    """Where a Python 3.13 may be, most explicit first: ``LAMBDA_PYTHON``, this interpreter, ``PATH``, pyenv."""
    candidates = [os.environ.get(PYTHON_ENV, ""), sys.executable, shutil.which("python3.13") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(path) for path in sorted(pyenv.glob("3.13*/bin/python3.13"), reverse=True)]
    candidates += ["/usr/local/bin/python3.13", "/usr/bin/python3.13"]
    return [candidate for candidate in dict.fromkeys(candidates) if candidate]


def _version(python: str) -> str | None:
    """``python``'s full version (``3.13.0``), or None when it does not run."""
    try:
        done = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.cache
def runtime_python() -> tuple[str, str]:
    """The Python 3.13 interpreter that compiles the bytecode and its full version (the cache key has it).

    Bytecode of another minor version would be ignored by the runtime, so there is no other Python to
    compile with; without one, :func:`bytecode_python` ships the code without bytecode.
    """
    wanted = ".".join(map(str, RUNTIME_PYTHON_VERSION))
    for candidate in _python_candidates():
        version = _version(candidate)
        if version is not None and version.split(".")[:2] == wanted.split("."):
            return candidate, version
    raise NoRuntimePython(
        f"no Python {wanted} found to compile the Lambda bytecode: install one (pyenv install {wanted}) "
        f"or point {PYTHON_ENV} at it"
    )


NO_BYTECODE = "no-bytecode"


def bytecode_python() -> tuple[str, str] | None:
    """:func:`runtime_python`, or None (with one warning) on a machine that has no Python 3.13.

    Then the code and the layer ship without bytecode: they work, their cold starts compile every module
    (docs/performance.md), and their archives differ from a machine's that has one, so a stack previews
    with a diff between the two. The sandbox runs the functions with its own Python and does not care.
    """
    try:
        return runtime_python()
    except NoRuntimePython as missing:
        if not _warned:
            _warned.append(True)
            pulumi.log.warn(f"{missing}; the Lambda code and layer ship without bytecode (slower cold starts)")
        return None


_warned: list[bool] = []


# --- the steps (each pure over a directory tree) -----------------------------------------------------


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_name(dist_info: Path) -> str:
    for line in (dist_info / "METADATA").read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("Name:"):
            return _normalized(line.removeprefix("Name:").strip())
    return _normalized(dist_info.name.split("-")[0])


def prune_distributions(site: Path, names: Iterable[str]) -> list[str]:
    """Remove the installed distributions ``names`` from ``site`` (every file their RECORD lists, their
    ``.dist-info``, the directories left empty) and pip's ``bin/`` scripts; return what was removed."""
    wanted = {_normalized(name) for name in names}
    removed = []
    for dist_info in sorted(site.glob("*.dist-info")):
        name = _distribution_name(dist_info)
        if name not in wanted:
            continue
        record = dist_info / "RECORD"
        lines = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
        for line in lines:
            relative = line.split(",", 1)[0]
            path = (site / relative).resolve()
            if path.is_relative_to(site.resolve()) and path.is_file():
                path.unlink()
        shutil.rmtree(dist_info)
        removed.append(name)
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: nothing on Lambda runs them
    for directory in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    return removed


def compile_tree(tree: Path, prefix: str, python: str | None = None) -> None:
    """Write unchecked-hash bytecode beside every ``.py`` under ``tree``, as if ``tree`` were ``prefix``.

    Files that are not valid Python 3.13 (templates, Python 2 leftovers in some packages) are left
    without bytecode, as the runtime would fail to compile them too.
    """
    interpreter = python or runtime_python()[0]
    subprocess.run(
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(tree),
            "-p",
            prefix,
            str(tree),
        ],
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": ""},
        check=False,  # a file that does not compile only goes without bytecode
        stdout=subprocess.DEVNULL,
    )


def write_reproducible_zip(source: Path, destination: Path) -> None:
    """Zip ``source``'s tree with sorted entries, fixed timestamps and modes: same tree, same bytes."""
    files = sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: p.relative_to(source).as_posix())
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


# --- the function code -------------------------------------------------------------------------------


def source_files() -> list[Path]:
    """The source files of the Lambda code asset, in a stable order."""
    return sorted(
        path
        for path in FUNCTIONS_DIR.rglob("*")
        if path.is_file() and path.suffix in _SOURCE_SUFFIXES and "__pycache__" not in path.parts
    )


def _code_digest(files: Sequence[Path]) -> str:
    digest = hashlib.sha256(_RECIPE)
    python = bytecode_python()
    digest.update((python[1] if python else NO_BYTECODE).encode())
    for path in files:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def compiled_code() -> Path:
    """A copy of ``functions/`` with its bytecode (as ``/var/task`` sees it), built once per source tree."""
    files = source_files()
    python = bytecode_python()
    compiled = python[1] if python else NO_BYTECODE
    directory = build_dir() / f"code-{LAMBDA_RUNTIME}-{_code_digest(files)}-{compiled}"
    if not directory.exists():
        partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        for path in files:
            target = partial / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        if python is not None:
            compile_tree(partial, TASK_ROOT, python[0])
        partial.replace(directory)
    return directory


def function_code() -> pulumi.AssetArchive:
    """The ``functions`` package as Lambda code, with its bytecode: handlers are ``functions.<module>.handler``."""
    directory = compiled_code()
    return pulumi.AssetArchive(
        {
            path.relative_to(directory).as_posix(): pulumi.FileAsset(str(path))
            for path in sorted(directory.rglob("*"))
            if path.is_file()
        }
    )


# --- the dependency layer ----------------------------------------------------------------------------


def layer_zip_path(architecture: str) -> Path:
    digest = hashlib.sha256(_RECIPE)
    digest.update(LAYER_REQUIREMENTS.read_bytes())
    digest.update(f"{LAMBDA_RUNTIME}/{architecture}/{','.join(RUNTIME_PROVIDED)}".encode())
    python = bytecode_python()
    digest.update((python[1] if python else NO_BYTECODE).encode())
    return build_dir() / f"layer-{LAMBDA_RUNTIME}-{architecture}-{digest.hexdigest()[:16]}.zip"


def dependency_layer(architecture: str) -> pulumi.FileArchive:
    """The dependency layer for ``architecture`` (arm64 | x86_64), built on first use."""
    path = layer_zip_path(architecture)
    if not path.exists():
        build_layer(architecture, path)
    return pulumi.FileArchive(str(path))


def install_requirements(architecture: str, site: Path) -> None:
    """pip-install the layer requirements for the Lambda platform into ``site`` (no bytecode)."""
    done = subprocess.run(
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
            LAMBDA_RUNTIME.removeprefix("python"),
            "--only-binary=:all:",
            "-r",
            str(LAYER_REQUIREMENTS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip could not install the layer requirements:\n{done.stderr.strip()}")


def prepare_layer(layer_root: Path, provided: Iterable[str] = RUNTIME_PROVIDED, precompile: bool = True) -> None:
    """Turn a pip-installed ``layer_root/python`` into the layer: runtime-provided packages out, bytecode in."""
    site = layer_root / "python"
    prune_distributions(site, provided)
    python = bytecode_python() if precompile else None
    if python is not None:
        compile_tree(site, f"{LAYER_MOUNT}/python", python[0])


def build_layer(architecture: str, destination: Path) -> None:
    """Install the layer requirements for the Lambda platform, prepare them and zip them reproducibly."""
    with tempfile.TemporaryDirectory() as work:
        install_requirements(architecture, Path(work) / "python")
        prepare_layer(Path(work))
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_suffix(".partial")
        write_reproducible_zip(Path(work), partial)
        partial.replace(destination)
