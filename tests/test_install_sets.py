"""Each Make target installs only its own install sets (pyproject.toml's extras; nbconvert alone for `make
student`), read from `make -n` (what make would run) for a .venv that does not exist, so nothing is installed."""

import shlex
import subprocess

import pytest
import tomllib

from resbook.site import execute as book

EXTRAS = tomllib.loads((book.ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
OPTIONS_WITH_VALUE = {"-c", "--constraint", "--index-url", "-i", "-r"}


def installs(target: str, *variables: str) -> list[list[str]]:
    """The requirements of each `pip install` that `make target` would run in a fresh checkout, in order; this
    package with extras as `.[a,b]`."""
    dry = subprocess.run(["make", "-n", target, "VENV=_build/no-venv", *variables], cwd=book.ROOT, check=True,
                         capture_output=True, text=True).stdout
    found = []
    for line in dry.splitlines():
        if "/pip install" not in line or "--upgrade pip" in line:
            continue
        words, requirements = shlex.split(line.split("/pip install", 1)[1]), []
        for before, word in zip([""] + words, words, strict=False):
            if not word.startswith("-") and before not in OPTIONS_WITH_VALUE:
                requirements.append(word)
        found.append(requirements)
    return found


def extras(target: str, *variables: str) -> set[str]:
    """The extras of this package that `make target` installs."""
    return {extra for requirements in installs(target, *variables) for r in requirements if r.startswith(".[")
            for extra in r[2:-1].split(",")}


def test_make_student_installs_nbconvert_only_no_torch_and_not_the_package():
    assert installs("student") == [["nbconvert"]]


@pytest.mark.parametrize(("target", "sets"), [
    ("book", {"reader", "build"}),
    ("setup", {"reader", "build"}),
    ("fill", {"reader"}),
    ("bench", {"reader"}),
    ("test", {"reader", "build", "test", "scale"}),
])
def test_each_target_installs_only_its_sets(target, sets):
    assert extras(target) == sets
    assert not any("torch" in r for requirements in installs(target) for r in requirements)  # via the package
    assert sets <= set(EXTRAS)  # every set the Makefile names is declared


def test_scale_out_is_installed_only_when_asked_for():
    assert extras("fill", "ENGINE=ray") == {"reader", "scale"}
    assert "ray" in EXTRAS["scale"] and not any("ray" in r for s in ("reader", "build", "test") for r in EXTRAS[s])


def test_the_reading_set_leaves_out_the_tools_of_building_and_testing():
    tools = {"jupyter-book", "pytest", "nbval", "ruff", "playwright", "ray", "sphinx"}
    assert not any(r.split("<")[0].split("=")[0] in tools for r in EXTRAS["reader"])
    assert "jupyter-book<2" in EXTRAS["build"] and "pytest" in EXTRAS["test"]


def test_torch_index_installs_the_cpu_build_before_the_package():
    first, package = installs("book", "TORCH_INDEX=https://download.pytorch.org/whl/cpu")[:2]
    assert first == ["torch", "torchvision"] and package == [".[reader]"]
    assert [["torch", "torchvision"]] != installs("book")[:1]  # not by default: pip's own indexes


def test_make_setup_vendors_mathjax_so_the_book_builds_offline():
    dry = subprocess.run(["make", "-n", "setup", "VENV=_build/no-venv"], cwd=book.ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert "-m resbook.site.mathjax" in dry


def test_requirements_txt_is_every_set_and_binder_the_cpu_reading_set():
    lines = [line.split("#")[0].strip() for line in (book.ROOT / "requirements.txt").read_text().splitlines()]
    package = next(line for line in lines if line.startswith("-e .["))
    assert set(package[len("-e .["):-1].split(",")) == set(EXTRAS) - {"student"}
    binder = (book.ROOT / "binder" / "requirements.txt").read_text().splitlines()
    binder = [line.split("#")[0].strip() for line in binder]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in binder
    assert {line for line in binder if line.startswith("torch")} == {"torch==2.14.1+cpu", "torchvision==0.29.1+cpu"}
    assert ".[reader]" in binder and not any(line.startswith(".[") and line != ".[reader]" for line in binder)


def test_make_book_needs_no_system_package_and_passes_overrides():
    dry = subprocess.run(["make", "-n", "book", "VENV=_build/no-venv", 'OVERRIDES={"seeds": [0, 1]}'],
                         cwd=book.ROOT, check=True, capture_output=True, text=True).stdout
    assert "apt-get" not in dry and "dpkg" not in dry and "sudo" not in dry
    assert dry.count("""--overrides '{"seeds": [0, 1]}'""") == 2  # fill and execute train and run the same plan


def test_make_system_without_apt_or_root_says_how_and_goes_on(tmp_path):
    # a PATH with make and a shell only: no apt-get, as on a Mac; HAVE_CHROMIUM=false: as if none were installed
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "bash", "grep", "id", "make"):
        (bin_dir / tool).symlink_to(subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip())
    done = subprocess.run([str(bin_dir / "make"), "-s", "system", "HAVE_CHROMIUM=false"], cwd=book.ROOT,
                          capture_output=True, text=True, env={"PATH": str(bin_dir)})
    assert done.returncode == 0, done.stderr
    assert "browser check will be skipped" in done.stderr and "brew install --cask chromium" in done.stderr


def test_make_book_installs_what_its_teaching_pack_imports():
    """`make book` ends with `resbook teaching`, whose slides come from nbconvert: a fresh clone's `make book` once
    trained and built everything, then stopped there (nbconvert came only with the test set)."""
    sets = extras("book")
    assert any(r.split("<")[0].split("=")[0].strip() == "nbconvert" for s in sets for r in EXTRAS[s])
