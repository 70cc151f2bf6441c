"""The wheel works: built from the sdist, installed into a fresh virtualenv, it migrates, seeds and serves.

The checkout's ``alembic.ini``, ``migrations/`` and ``web/`` are not beside an installed package; this proves
the wheel carries its own (``careteam/_bundled/``) and that careteam finds them with no checkout in sight.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from careteam import resources

ROOT = Path(__file__).resolve().parent.parent
SDIST_INPUTS = (
    "careteam",
    "migrations",
    "web",
    "alembic.ini",
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
)
BUNDLED_FILES = (
    "alembic.ini",
    "migrations/env.py",
    "web/templates/plans/board.html",
    "web/static/css/app.css",
)

pytestmark = pytest.mark.slow


def _setuptools_builds_wheels() -> bool:
    """Whether this environment can build the wheel by itself (no download): setuptools 70.1 or later has
    ``bdist_wheel`` built in, older ones need the ``wheel`` package."""
    try:
        major, minor = (int(part) for part in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    try:
        metadata.version("wheel")
    except metadata.PackageNotFoundError:
        return (major, minor) >= (70, 1)
    return True


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would point Python back at the checkout or the test settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARETEAM_") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    return {**env, "PYTHONNOUSERSITE": "1", **extra}


def _run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 60) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built as a packager would: an sdist of a copy of the checkout, then a wheel of the sdist."""
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    for name in SDIST_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
        else:
            shutil.copy2(ROOT / name, src / name)
    env = _clean_env()
    # The sdist with this environment's setuptools (any version makes sdists, and needs no network).
    sdist_of = "from setuptools import build_meta; build_meta.build_sdist('dist')"
    _run(sys.executable, "-c", sdist_of, cwd=src, env=env)
    (sdist,) = (src / "dist").glob("careteam-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        tar.extractall(work / "unpacked", filter="data")
    assert {"setup.py", "MANIFEST.in", *BUNDLED_FILES} <= names
    (unpacked,) = (work / "unpacked").iterdir()
    # A directory rather than the .tar.gz, so pip keeps no built wheel in its cache. Without a setuptools
    # that builds wheels here, pip fetches one into an isolated build environment.
    isolation = ["--no-build-isolation"] if _setuptools_builds_wheels() else []
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        *isolation,
        "--wheel-dir",
        work / "wheels",
        unpacked,
        cwd=work,
        env=env,
        timeout=120,
    )
    (built,) = (work / "wheels").glob("careteam-*.whl")
    return built


def test_the_wheel_carries_its_data_inside_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"careteam/_bundled/{name}" for name in BUNDLED_FILES} <= set(names)
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {"careteam", "careteam-0.1.0.dist-info"}


def test_a_checkout_uses_its_own_top_level() -> None:
    """An editable install reads the checkout's files: an edit to a template shows without a rebuild."""
    assert resources.ROOT == ROOT
    assert resources.TEMPLATES == ROOT / "web" / "templates"


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the wheel installed; its dependencies are this environment's, read through
    a path in a .pth file (not the site directory itself: its editable-install finder must not run)."""
    home = tmp_path_factory.mktemp("venv")
    env = _clean_env()
    _run(sys.executable, "-m", "venv", "--without-pip", home, cwd=home, env=env)
    python = home / "bin" / "python"
    # Install before the .pth exists, so pip sees an empty environment and touches nothing of this one.
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=home,
        env=env,
        timeout=120,
    )
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=home, env=env)
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    Path(site.strip(), "careteam-test-dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    return home


@pytest.fixture
def server(venv: Path, tmp_path: Path) -> Iterator[str]:
    """``careteam db upgrade``, ``careteam demo`` and ``careteam serve`` from the virtualenv, in an empty
    directory; yields the server's URL."""
    bin_dir = venv / "bin"
    env = _clean_env(CARETEAM_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/careteam.db")
    show = "import careteam, careteam.resources as r; print(careteam.__file__); print(r.ROOT)"
    where = _run(bin_dir / "python", "-c", show, cwd=tmp_path, env=env).split()
    assert all(Path(path).is_relative_to(venv) for path in where), where
    assert "revision head" in _run(bin_dir / "careteam", "db", "upgrade", cwd=tmp_path, env=env)
    assert "demo clinic ready" in _run(bin_dir / "careteam", "demo", cwd=tmp_path, env=env)
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [bin_dir / "careteam", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"careteam serve exited:\n{log.read_text()[-3000:]}"
            try:
                httpx.get(f"{url}/login", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"serve never answered:\n{log.read_text()[-3000:]}"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_installed_wheel_migrates_seeds_and_serves(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as browser:
        form = browser.get("/login")
        assert form.status_code == 200
        match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert match, form.text
        credentials = {"username": "lead", "password": "demo", "csrf_token": match[1], "next": "/patients"}
        signed_in = browser.post("/login", data=credentials)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/patients", signed_in.text
        patients = browser.get("/patients")
        assert patients.status_code == 200 and "Ellen Marsh" in patients.text
        plan = re.search(r'href="(/plans/\d+)"', browser.get("/patients/1").text)
        assert plan, "no board link on the patient page"
        board = browser.get(plan[1])
        assert board.status_code == 200
        assert "Chronic low back pain" in board.text
        css = browser.get("/static/css/app.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert css.content == (ROOT / "web" / "static" / "css" / "app.css").read_bytes()
