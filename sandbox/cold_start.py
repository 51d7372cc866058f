"""Cold start as Lambda pays it: a handler module's import in a fresh Python 3.13, against a bare handler.

What a Lambda cold start spends before the first event is mostly the handler module's import. It is
measured here from outside, whole-process (interpreter start included), the way Lambda lays a function
out: the function code in a task directory, the dependency layer unpacked as ``/opt`` (``python/`` on
``sys.path`` after the code), the runtime's own boto3 (precompiled, as the runtime ships it) after that,
no bytecode written at run time (``/var/task`` and ``/opt`` are read-only) and Lambda's environment set,
so the Tracer is active as it is on Lambda.

The yardstick is a bare handler that imports only ``json`` and the runtime's ``boto3``. Each function is
timed in ``pairs`` alternating pairs with it (bare first, then function first, ...), so a slow moment of a
shared machine hits both; the figure is the median of the pairs' ratios, next to the median seconds.

The layer is measured in variants from one install, so one run shows what each change does:
``before`` (the layer as it was: no bytecode, only the SDK left out, function code without bytecode),
``precompiled`` (bytecode in the layer and the code) and ``shipped`` (also without every package the
runtime has: what ``components.packaging`` builds).

``python -m sandbox.cold_start`` runs this part of ``make bench`` alone.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from components import packaging
from components.catalog import ADD_TEAM_MEMBER, BUSINESS_FUNCTIONS, STORE_RECORDS, FunctionSpec

BARE_HANDLER = "import json, boto3"
#: Imports measured beside the functions, in a GitHub function's environment, as what no handler built on
#: them can go below: githubkit alone (it always loads pydantic, httpx, anyio, hishel and PyJWT with
#: cryptography, and builds its models' base) against the GitHub functions' 2x target.
REFERENCES = {"floor: json, boto3, githubkit": "import json, boto3, githubkit"}
PAIRS = 7
#: The receiver must cost at most this much more than the bare handler; every other function this much.
RECEIVER_TARGET = 1.3
OTHERS_TARGET = 2.0
#: Where the python3.13 runtime keeps its boto3 (the file names its bytecode carries).
RUNTIME_SITE = "/var/lang/lib/python3.13/site-packages"
FUNCTIONS: tuple[FunctionSpec, ...] = (*BUSINESS_FUNCTIONS, STORE_RECORDS)
TRACE_HEADER = "Root=1-67a0c2f1-5f0e1d2c3b4a596877665544;Parent=53995c3f42cd8ad8;Sampled=1"


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    left_out: tuple[str, ...]  # distributions removed from the layer
    precompiled: bool  # layer and function code ship bytecode


VARIANTS = (
    Variant("before", "no bytecode, only the SDK left out", packaging.SDK_ONLY, precompiled=False),
    Variant("precompiled", "+ bytecode (layer and code)", packaging.SDK_ONLY, precompiled=True),
    Variant("shipped", "+ runtime's packages left out", packaging.RUNTIME_PROVIDED, precompiled=True),
)


# --- the figures (pure) ------------------------------------------------------------------------------


def bare_first(pair: int) -> bool:
    """Whether pair ``pair`` times the bare handler first: the order alternates, so drift hits both."""
    return pair % 2 == 0


@dataclass(frozen=True)
class ColdStart:
    seconds: float  # median of the function's samples
    bare_seconds: float  # median of the bare handler's samples beside them
    ratio: float  # median of the pairs' ratios (function / bare)
    pairs: int
    #: The same of the processes' CPU seconds (user + system), beside the wall-clock figures above.
    cpu_seconds: float | None = None
    cpu_ratio: float | None = None


def cold_start(samples: Sequence[tuple[float, float]]) -> ColdStart:
    """The figure of ``(bare, function)`` second pairs."""
    if not samples:
        raise ValueError("no samples")
    return ColdStart(
        seconds=statistics.median(function for _, function in samples),
        bare_seconds=statistics.median(bare for bare, _ in samples),
        ratio=statistics.median(function / bare for bare, function in samples),
        pairs=len(samples),
    )


def target(key: str) -> float:
    return RECEIVER_TARGET if key == "receiver" else OTHERS_TARGET


@dataclass(frozen=True)
class LayerDirs:
    task_root: Path  # /var/task: the function code
    layer_root: Path  # /opt: the unpacked layer (its python/ goes on sys.path)
    runtime_site: Path  # the runtime's site-packages with its boto3


def python_path(dirs: LayerDirs) -> str:
    """Lambda's order: the function code, the layer's ``python/``, the runtime's packages."""
    return os.pathsep.join(str(path) for path in (dirs.task_root, dirs.layer_root / "python", dirs.runtime_site))


def function_environment(spec: FunctionSpec, architecture: str = "sqs") -> dict[str, str]:
    """The variables the stack gives ``spec`` (components.shared, components.wiring), with stand-in values."""
    env = {
        "POWERTOOLS_SERVICE_NAME": spec.key,
        "POWERTOOLS_METRICS_NAMESPACE": "GitHubAutomation",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "GITHUB_AUTOMATION_STACK": "bench",
        "ARCHITECTURE": architecture,
        "GITHUB_ORG": "example-org",
        "ONBOARDING_TEAM": "new-joiners",
        "TEAM_ROLE": "member",
        "DIRECTORY": "github-saml",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_API_VERSION": "2022-11-28",
        "SELF_HOSTED_USD_PER_MINUTE": "0",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench-notifications",
        "WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-webhook-AbCdEf",
        "GITHUB_APP_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-app-AbCdEf",
        "MEMBERS_TABLE": "bench-members",
        "WORKFLOW_RUNS_TABLE": "bench-workflow-runs",
    }
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/bench"
    if spec.key == "receiver":
        env |= {
            f"{use_case}_TARGET": f"{queue}-{use_case.lower()}" for use_case in ("ONBOARDING", "CHARGEBACK", "BACKFILL")
        }
    else:
        env |= {"NEXT_QUEUE_URL": f"{queue}-next", "MAX_RECEIVE_COUNT": "5"}
    return env


def sample_environment(spec: FunctionSpec, dirs: LayerDirs, home: Path) -> dict[str, str]:
    """The whole environment of one sample: Lambda's own variables (tracing active), the function's, and
    nothing of this shell's but ``PATH`` (no AWS profile or endpoint leaks in)."""
    name = f"github-automation-bench-{spec.key}"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": python_path(dirs),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(dirs.task_root),
        "LAMBDA_RUNTIME_DIR": str(dirs.runtime_site),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{packaging.LAMBDA_RUNTIME}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCHBENCHBENCH0",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "_HANDLER": spec.handler,
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
        "_AWS_XRAY_DAEMON_PORT": "2000",
        **function_environment(spec),
    }


def tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


# --- preparing the directories -----------------------------------------------------------------------


def runtime_sdk(python: str, build: Path) -> Path:
    """The runtime's boto3 stand-in: this project's boto3 pin installed once for Python 3.13, precompiled."""
    version = importlib.metadata.version("boto3")
    site = build / f"runtime-sdk-{packaging.LAMBDA_RUNTIME}-boto3-{version}"
    if not site.exists():
        partial = site.with_name(site.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
            + ["--target", str(partial), f"boto3=={version}"],
            check=True,
        )
        packaging.compile_tree(partial, RUNTIME_SITE, python)
        partial.replace(site)
    return site


def function_code_dir(precompiled: bool, work: Path, functions_root: Path | None) -> Path:
    """The task root: ``functions/`` as shipped (with bytecode) or as before (sources only)."""
    if precompiled and functions_root is None:
        return packaging.compiled_code()
    task = work / ("code-precompiled" if precompiled else "code-sources")
    if task.exists():  # two variants share the code as it is
        return task
    source = (functions_root or packaging.ROOT) / "functions"
    shutil.copytree(source, task / "functions", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if precompiled:
        packaging.compile_tree(task, packaging.TASK_ROOT)
    return task


@dataclass
class LayerSize:
    zipped_bytes: int
    unzipped_bytes: int
    files: int


def layer_variant(installed: Path, variant: Variant, work: Path) -> tuple[Path, LayerSize]:
    """A copy of the installed layer made into ``variant``, and its size zipped (reproducibly) and not."""
    root = work / f"layer-{variant.name}"
    shutil.copytree(installed, root)
    packaging.prepare_layer(root, variant.left_out, precompile=variant.precompiled)
    archive = work / f"layer-{variant.name}.zip"
    packaging.write_reproducible_zip(root, archive)
    files = sum(1 for path in root.rglob("*") if path.is_file())
    return root, LayerSize(archive.stat().st_size, tree_bytes(root), files)


# --- measuring ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds from spawning the process to its exit: what the target is about
    cpu: float  # user + system seconds of the process: what a busy machine's waiting does not inflate


def time_import(python: str, statement: str, env: Mapping[str, str]) -> Sample:
    """Time ``python -c statement`` from spawn to exit (it must succeed).

    It runs in the task root, as Lambda runs a function (``-c`` puts the working directory first on
    ``sys.path``: run from a checkout, it would import that checkout's ``functions/`` from source instead of
    the code measured).
    """
    cwd = env.get("LAMBDA_TASK_ROOT") or tempfile.gettempdir()
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            [python, "-c", statement], env=dict(env), cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{statement!r} failed: {errors.read().decode(errors='replace').strip()[-500:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime)


def bare_environment(env: Mapping[str, str], dirs: LayerDirs) -> dict[str, str]:
    """The bare handler's environment: the function's, but with nothing on the path before the runtime's
    packages (it has no layer, so no layer copy of urllib3 or dateutil shadows the runtime's boto3's)."""
    return {**env, "PYTHONPATH": str(dirs.runtime_site)}


def measure_function(python: str, spec: FunctionSpec, env: Mapping[str, str], pairs: int) -> ColdStart:
    return measure_statement(python, f"import {spec.handler.rsplit('.', 1)[0]}", env, pairs)


def measure_statement(python: str, statement: str, env: Mapping[str, str], pairs: int) -> ColdStart:
    """``statement`` in ``env`` against the bare handler, in ``pairs`` alternating pairs."""
    bare_env = bare_environment(env, LayerDirs(Path(), Path(), Path(env["LAMBDA_RUNTIME_DIR"])))
    samples: list[tuple[Sample, Sample]] = []
    for pair in range(pairs):
        if bare_first(pair):
            bare = time_import(python, BARE_HANDLER, bare_env)
            function = time_import(python, statement, env)
        else:
            function = time_import(python, statement, env)
            bare = time_import(python, BARE_HANDLER, bare_env)
        samples.append((bare, function))
    wall = cold_start([(bare.wall, function.wall) for bare, function in samples])
    cpu = cold_start([(bare.cpu, function.cpu) for bare, function in samples])
    return replace(wall, cpu_seconds=cpu.seconds, cpu_ratio=cpu.ratio)


@dataclass
class ColdStartFigures:
    python: str
    pairs: int
    variants: dict[str, str] = field(default_factory=dict)  # name -> description
    layer_sizes: dict[str, LayerSize] = field(default_factory=dict)
    functions: dict[str, dict[str, ColdStart]] = field(default_factory=dict)  # variant -> key -> figure
    references: dict[str, dict[str, ColdStart]] = field(default_factory=dict)  # variant -> REFERENCES label -> figure
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "definition": "import of the handler module in a fresh python3.13 process (whole process), Lambda's "
            "layout and environment, no bytecode written; ratio = median over alternating pairs of "
            f"function / bare handler ({BARE_HANDLER!r})",
            "targets": {"receiver": RECEIVER_TARGET, "others": OTHERS_TARGET},
            **asdict(self),
        }


def measure(
    pairs: int = PAIRS,
    variants: Sequence[Variant] = VARIANTS,
    functions_root: Path | None = None,
    on_step: Callable[[str], None] = lambda _: None,
) -> ColdStartFigures:
    """Build the layer variants for this machine's architecture and time every function against the bare handler."""
    started = time.perf_counter()
    python, version = packaging.runtime_python()
    figures = ColdStartFigures(python=f"{version} ({python})", pairs=pairs)
    build = packaging.build_dir()
    architecture = "arm64" if os.uname().machine in ("aarch64", "arm64") else "x86_64"
    on_step("the runtime's boto3 for Python 3.13")
    runtime_site = runtime_sdk(python, build)
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        work = Path(scratch)
        on_step(f"installing the layer requirements ({architecture})")
        packaging.install_requirements(architecture, work / "installed" / "python")
        for variant in variants:
            on_step(f"{variant.name}: preparing the layer")
            layer_root, size = layer_variant(work / "installed", variant, work)
            figures.variants[variant.name] = variant.description
            figures.layer_sizes[variant.name] = size
            dirs = LayerDirs(function_code_dir(variant.precompiled, work, functions_root), layer_root, runtime_site)
            results = figures.functions.setdefault(variant.name, {})
            for spec in FUNCTIONS:
                on_step(f"{variant.name}: {spec.key} ({pairs} pairs)")
                results[spec.key] = measure_function(python, spec, sample_environment(spec, dirs, work), pairs)
            references = figures.references.setdefault(variant.name, {})
            for label, statement in REFERENCES.items():
                on_step(f"{variant.name}: {label} ({pairs} pairs)")
                env = sample_environment(ADD_TEAM_MEMBER, dirs, work)
                references[label] = measure_statement(python, statement, env, pairs)
    figures.seconds = time.perf_counter() - started
    return figures


# --- printing ----------------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def print_figures(console: Console, figures: ColdStartFigures) -> None:
    console.print(
        f"[bold]Cold start as Lambda pays it[/bold]: import of the handler module in a fresh Python "
        f"{figures.python.split()[0]} process, Lambda's layout (code, layer's python/, runtime's boto3) and "
        f"environment (Tracer active), no bytecode written. Ratio: median over {figures.pairs} alternating "
        f"pairs against the bare handler ({BARE_HANDLER}); cpu: the same ratio of the processes' CPU "
        f"seconds, which waiting on a busy machine does not inflate. Targets: receiver <= {RECEIVER_TARGET}x, others "
        f"<= {OTHERS_TARGET}x. Layer variants: "
        + "; ".join(f"{name}: {description}" for name, description in figures.variants.items())
        + "."
    )
    names = list(figures.functions)
    table = Table(title_justify="left")
    table.add_column("function", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right")
    first = next(iter(figures.functions.values()), {})
    for key in first:
        cells = []
        for name in names:
            figure = figures.functions[name][key]
            mark = "" if figure.ratio <= target(key) else " [red]![/red]"
            cpu = "" if figure.cpu_ratio is None else f", cpu {figure.cpu_ratio:.2f}x"
            cells.append(f"{figure.seconds:.2f} s ({figure.ratio:.2f}x{cpu}){mark}")
        table.add_row(key, *cells)
    for label in next(iter(figures.references.values()), {}):
        cells = []
        for name in names:
            figure = figures.references[name][label]
            cpu = "" if figure.cpu_ratio is None else f", cpu {figure.cpu_ratio:.2f}x"
            cells.append(f"{figure.seconds:.2f} s ({figure.ratio:.2f}x{cpu})")
        table.add_row(label, *cells)
    table.add_row(
        "bare handler (median)",
        *(f"{statistics.median(f.bare_seconds for f in figures.functions[n].values()):.2f} s" for n in names),
    )
    table.add_row(
        "layer zipped / unzipped",
        *(f"{_mb(figures.layer_sizes[n].zipped_bytes)} / {_mb(figures.layer_sizes[n].unzipped_bytes)}" for n in names),
    )
    table.add_row("layer files", *(str(figures.layer_sizes[n].files) for n in names))
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.cold_start", description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("--variant", action="append", choices=[v.name for v in VARIANTS], help="default: all")
    parser.add_argument(
        "--functions-root", type=Path, help="measure the functions/ package of another checkout (code before/after)"
    )
    options = parser.parse_args(argv)
    console = Console()
    variants = [v for v in VARIANTS if not options.variant or v.name in options.variant]
    with console.status("cold starts") as status:
        figures = measure(options.pairs, variants, options.functions_root, on_step=status.update)
    print_figures(console, figures)
    shipped = figures.functions.get(VARIANTS[-1].name, {})
    return 0 if all(figure.ratio <= target(key) for key, figure in shipped.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
