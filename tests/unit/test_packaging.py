"""The layer's build steps (issue 9, section 1) on a small fake site-packages tree: no pip, no network.

What Lambda needs of the layer: bytecode for every module, compiled by Python 3.13 in unchecked-hash mode
(its read-only ``/opt`` would otherwise have every cold start compile them), none of the packages the
runtime ships, and the same bytes from the same inputs.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from components import packaging

#: PEP 552: bit 0 = hash-based, bit 1 = check the source; unchecked-hash is hash-based, no check.
UNCHECKED_HASH_FLAGS = 0b01


def _runtime_python() -> str:
    try:
        return packaging.runtime_python()[0]
    except packaging.NoRuntimePython as error:
        pytest.skip(str(error))


def _distribution(site: Path, name: str, version: str, files: dict[str, str]) -> None:
    """Install a fake distribution: its files and a ``.dist-info`` whose RECORD lists them."""
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    for relative, text in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(text)
    record = [f"{relative},," for relative in files] + [f"{dist_info.name}/METADATA,,", f"{dist_info.name}/RECORD,,"]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")


def fake_layer(root: Path) -> Path:
    """``root/python`` as pip leaves it: two packages of ours, four the runtime has, a console script."""
    site = root / "python"
    _distribution(site, "ourlib", "1.0", {"ourlib/__init__.py": "VALUE = {'a', 'b', 'c'}\n", "ourlib/sub.py": "X=1\n"})
    _distribution(site, "single-module", "2.0", {"single_module.py": "def f():\n    return 1\n"})
    _distribution(site, "botocore", "1.0", {"botocore/__init__.py": "", "botocore/data/x.json": "{}"})
    _distribution(site, "python-dateutil", "2.9", {"dateutil/__init__.py": "", "dateutil/tz/__init__.py": ""})
    _distribution(site, "six", "1.17.0", {"six.py": ""})
    _distribution(site, "urllib3", "2.0", {"urllib3/__init__.py": ""})
    (site / "bin").mkdir()
    (site / "bin" / "jp.py").write_text("print('jmespath')\n")
    return root


def _prepared(tmp_path: Path, name: str) -> Path:
    _runtime_python()
    root = fake_layer(tmp_path / name)
    packaging.prepare_layer(root)
    return root


def _pycs(site: Path) -> list[Path]:
    return sorted(site.rglob("*.pyc"))


def test_every_module_has_bytecode_for_python_313(tmp_path: Path) -> None:
    site = _prepared(tmp_path, "layer") / "python"
    sources = sorted(site.rglob("*.py"))
    assert sources
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.is_file(), f"no bytecode for {source.relative_to(site)}"
    assert all(".cpython-313." in pyc.name for pyc in _pycs(site))


def test_bytecode_is_unchecked_hash_with_python_313s_magic_number(tmp_path: Path) -> None:
    python = _runtime_python()
    magic = subprocess.run(
        [python, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    site = _prepared(tmp_path, "layer") / "python"
    for pyc in _pycs(site):
        header = pyc.read_bytes()[:16]
        assert header[:4].hex() == magic, pyc.name
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH_FLAGS, pyc.name


def test_bytecode_names_the_files_where_lambda_mounts_them(tmp_path: Path) -> None:
    site = _prepared(tmp_path, "layer") / "python"
    bytecode = (site / "ourlib" / "__pycache__" / "sub.cpython-313.pyc").read_bytes()
    assert b"/opt/python/ourlib/sub.py" in bytecode
    assert str(tmp_path).encode() not in bytecode


def test_runtime_provided_packages_and_scripts_are_left_out(tmp_path: Path) -> None:
    site = _prepared(tmp_path, "layer") / "python"
    left = sorted(path.relative_to(site).as_posix() for path in site.iterdir())
    assert left == ["__pycache__", "ourlib", "ourlib-1.0.dist-info", "single_module-2.0.dist-info", "single_module.py"]


def test_pruning_removes_only_what_a_distributions_record_lists(tmp_path: Path) -> None:
    site = fake_layer(tmp_path / "layer") / "python"
    (site / "dateutil" / "ours.txt").write_text("not in the RECORD\n")
    removed = packaging.prune_distributions(site, ["Python_Dateutil", "six"])
    assert removed == ["python-dateutil", "six"]
    assert (site / "dateutil" / "ours.txt").exists()
    assert not (site / "dateutil" / "tz").exists()
    assert not (site / "six.py").exists()
    assert (site / "botocore" / "__init__.py").exists()


def test_the_same_tree_zips_to_the_same_bytes(tmp_path: Path) -> None:
    zips = []
    for name in ("first", "second"):
        root = _prepared(tmp_path, name)
        zips.append(tmp_path / f"{name}.zip")
        packaging.write_reproducible_zip(root, zips[-1])
    assert zips[0].read_bytes() == zips[1].read_bytes()
    with zipfile.ZipFile(zips[0]) as archive:
        names = archive.namelist()
    assert names == sorted(names)
    assert "python/ourlib/__pycache__/__init__.cpython-313.pyc" in names


def test_the_layer_cache_key_follows_the_recipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(tmp_path))
    monkeypatch.setattr(packaging, "runtime_python", lambda: ("python3.13", "3.13.0"))
    before = packaging.layer_zip_path("x86_64")
    monkeypatch.setattr(packaging, "_RECIPE", packaging._RECIPE + b"# one step more\n")
    assert packaging.layer_zip_path("x86_64") != before
    monkeypatch.setattr(packaging, "RUNTIME_PROVIDED", packaging.RUNTIME_PROVIDED[:3])
    assert len({before, packaging.layer_zip_path("x86_64")}) == 2


def test_no_python_313_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packaging, "_python_candidates", lambda: ["/nonexistent/python3.13", shutil.which("true")])
    packaging.runtime_python.cache_clear()
    try:
        with pytest.raises(packaging.NoRuntimePython, match="no Python 3.13 found .* LAMBDA_PYTHON"):
            packaging.runtime_python()
    finally:
        packaging.runtime_python.cache_clear()


def test_without_a_python_3_13_the_code_ships_without_bytecode_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A laptop with only an older Python still runs `make run` and `pulumi preview`: one warning, no bytecode,
    a cache entry of its own (so it never reuses, or is reused for, a compiled one)."""
    monkeypatch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(tmp_path))
    monkeypatch.setattr(packaging, "_python_candidates", lambda: [])
    monkeypatch.setattr(packaging, "_warned", [])
    warnings: list[str] = []
    monkeypatch.setattr(packaging.pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    with pytest.raises(packaging.NoRuntimePython):
        packaging.runtime_python()

    code = packaging.compiled_code()
    packaging.compiled_code()  # the second build reuses the first and warns no more
    assert code.name.endswith(f"-{packaging.NO_BYTECODE}")
    assert (code / "functions" / "receiver.py").is_file()
    assert not list(code.rglob("*.pyc"))
    assert len(warnings) == 1 and "without bytecode" in warnings[0]
    root = fake_layer(tmp_path / "layer")
    packaging.prepare_layer(root)
    assert not list(root.rglob("*.pyc")) and not (root / "python" / "six.py").exists()
