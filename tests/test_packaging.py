"""The package as a site developer receives it: declared dependencies that admit exactly the
tested matrix, every imported package declared, license metadata, and README links that work
on a package index page."""

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def load_noxfile_matrix():
    tree = ast.parse((REPO / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "MATRIX":
            return ast.literal_eval(node.value)
    raise AssertionError("noxfile.py has no MATRIX")


MATRIX = load_noxfile_matrix()
# `make test`'s own combination: whatever this environment runs.
DEFAULT = (
    f"{sys.version_info.major}.{sys.version_info.minor}",
    ".".join(importlib.metadata.version("Django").split(".")[:2]),
    ".".join(importlib.metadata.version("wagtail").split(".")[:2]),
)
TESTED = {*MATRIX, DEFAULT}


def requirement(name):
    for spec in PROJECT["dependencies"]:
        parsed = Requirement(spec)
        if parsed.name.lower() == name.lower():
            return parsed
    raise AssertionError(f"{name} is not a dependency")


def next_minor(version):
    major, minor = version.split(".")
    return f"{major}.{int(minor) + 1}"


@pytest.mark.parametrize("name,position", [("Django", 1), ("wagtail", 2)])
def test_ranges_admit_exactly_the_tested_minor_releases(name, position):
    specifier = requirement(name).specifier
    tested = sorted({combination[position] for combination in TESTED}, key=lambda v: tuple(
        int(part) for part in v.split(".")))
    for version in tested:
        assert specifier.contains(f"{version}.0") and specifier.contains(f"{version}.99")
    lowest, newest = tested[0], tested[-1]
    major, minor = lowest.split(".")
    below = f"{major}.{int(minor) - 1}.99" if int(minor) else f"{int(major) - 1}.99"
    assert not specifier.contains(below)
    assert not specifier.contains(f"{next_minor(newest)}.0")


def test_the_requires_python_and_classifiers_name_each_tested_version():
    classifiers = set(PROJECT["classifiers"])
    assert PROJECT["requires-python"] == ">=3.11"
    for python, django, wagtail in TESTED:
        assert f"Programming Language :: Python :: {python}" in classifiers
        assert f"Framework :: Django :: {django}" in classifiers
        assert f"Framework :: Wagtail :: {wagtail.split('.')[0]}" in classifiers


def imported_top_level_names():
    names = set()
    for path in (REPO / "wagtail_experiments").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"wagtail_experiments"}


def test_every_imported_package_is_declared():
    """Not only what Wagtail happens to bring: Wagtail 7.4 brings no ninja, pydantic or
    swapper, and Django does not start without them."""
    declared = {Requirement(spec).name.lower() for spec in PROJECT["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    missing = {
        name: distributions.get(name)
        for name in imported_top_level_names()
        if not {dist.lower() for dist in distributions.get(name, [name])} & declared
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_readme_links_to_repository_files_are_absolute_and_exist():
    """A package index shows the README without the repository beside it."""
    readme = (REPO / "README.md").read_text()
    source = PROJECT["urls"]["Source"].rstrip("/") + "/blob/main/"
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert links
    for link in links:
        assert re.match(r"https?://", link), f"relative link {link!r} breaks on an index page"
        if link.startswith(source):
            assert (REPO / link.removeprefix(source)).exists(), link
    assert any(link.startswith(source + "docs/") for link in links)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
         str(REPO)],
        check=True, capture_output=True,
    )
    (built,) = dist.glob("wagtail_landing_experiments-*.whl")
    return built


def test_the_wheel_carries_its_license_and_metadata(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "Classifier: Framework :: Wagtail :: 7" in metadata
    assert "Project-URL: Changelog, " in metadata
    assert "Requires-Dist: wagtail>=7.4,<8.1" in metadata
    # What the app needs at run time is inside: templates, static files, migrations.
    for expected in (
        "wagtail_experiments/static/wagtail_experiments/tracker.js",
        "wagtail_experiments/templates/wagtail_experiments/tracker.html",
        "wagtail_experiments/migrations/0001_initial.py",
        "wagtail_experiments/compat.py",
    ):
        assert expected in names
    assert not any(name.startswith(("tests/", "sandbox_site/")) for name in names)
