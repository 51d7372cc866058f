"""Run the real Pulumi program (``__main__.py``) in this process under ``pulumi.runtime.set_mocks``.

No Pulumi CLI or provider plugin is involved: the given Mocks decide what each resource becomes (a record
for the unit tests, a real resource in the embedded AWS for the sandbox), so the program stays the one
description of what a stack deploys.
"""

from __future__ import annotations

import asyncio
import runpy
import zipfile
from pathlib import Path
from typing import Any

import pulumi
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "github-automation"


def stack_config(stack_file: str | Path) -> dict[str, str]:
    """The project keys of a stack file (e.g. ``Pulumi.dev.yaml``), without the project prefix."""
    values = yaml.safe_load((ROOT / stack_file).read_text())["config"]
    prefix = f"{PROJECT}:"
    return {k[len(prefix) :]: str(v) for k, v in values.items() if k.startswith(prefix)}


def placeholder_layer(architecture: str) -> Path:
    """Put a stand-in at the dependency layer's cache path, so the program does not pip-build it.

    Offline runs cannot build the Lambda-platform layer; the sandbox runs functions with this
    environment's own (identically pinned) packages instead. Set ``GITHUB_AUTOMATION_BUILD_DIR`` to a
    scratch folder first, so the real cache under ``build/`` is never touched.
    """
    from components.packaging import layer_zip_path

    path = layer_zip_path(architecture)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("python/README.txt", "placeholder: this run uses the local environment's packages")
    return path


def run_program(
    mocks: pulumi.runtime.Mocks,
    config: dict[str, str],
    secrets: dict[str, str],
    stack: str = "dev",
    plain_secrets: bool = False,
) -> dict[str, Any]:
    """Run ``__main__.py`` with this stack config under ``mocks``; return its exports, resolved."""
    values = {f"{PROJECT}:{k}": v for k, v in {**config, **secrets}.items()}
    secret_keys = [] if plain_secrets else [f"{PROJECT}:{k}" for k in secrets]
    pulumi.runtime.set_all_config(values, secret_keys)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    exports: dict[str, Any] = {}
    original_export = pulumi.export
    pulumi.export = lambda key, value: exports.__setitem__(key, value)  # type: ignore[assignment]
    loop = asyncio.get_event_loop()  # Pulumi's outputs live on this thread's loop
    try:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
        return {key: _resolve(loop, value) for key, value in exports.items()}
    finally:
        pulumi.export = original_export


def _resolve(loop: asyncio.AbstractEventLoop, value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        future: asyncio.Future[Any] = loop.create_future()
        value.apply(future.set_result)
        return loop.run_until_complete(future)
    if isinstance(value, dict):
        return {k: _resolve(loop, v) for k, v in value.items()}
    return value
