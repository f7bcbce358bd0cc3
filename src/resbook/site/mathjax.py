"""MathJax 3, vendored from the npm registry into the built site, so that math renders without internet.

The package tarball is downloaded once into .cache/vendor (by `make setup`, which runs this module, so that a
set-up checkout builds offline; else at the first build), checked against the registry's published sha512
integrity, and the combined TeX-to-HTML script plus its web fonts are copied into the site.
"""

from __future__ import annotations

import base64
import hashlib
import io
import pathlib
import shutil
import tarfile
import urllib.request

VERSION = "3.2.2"
URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{VERSION}.tgz"
INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
SCRIPT = "tex-chtml-full.js"  # all TeX extensions built in: nothing is fetched on demand
FONTS = "output/chtml/fonts/woff-v2"  # where the script looks for its fonts, relative to itself
CACHE = pathlib.Path(__file__).resolve().parents[3] / ".cache" / "vendor"


def _check(blob: bytes) -> None:
    digest = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if digest != INTEGRITY:
        raise ValueError(f"MathJax {VERSION} tarball fails its integrity check ({digest[:20]}...); "
                         f"delete {CACHE} and build again")


def tarball() -> bytes:
    """The npm package, from .cache/vendor or (once) from the registry; integrity-checked either way."""
    path = CACHE / f"mathjax-{VERSION}.tgz"
    if not path.exists():
        try:
            with urllib.request.urlopen(URL, timeout=60) as response:
                blob = response.read()
        except OSError as err:
            raise FileNotFoundError(
                f"cannot download MathJax {VERSION} from {URL} ({err}). Fix: on a machine with access to "
                f"the npm registry, run the build once, or put mathjax-{VERSION}.tgz (`npm pack mathjax@{VERSION}`) "
                f"in {CACHE}") from err
        _check(blob)
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        tmp.replace(path)
    blob = path.read_bytes()
    _check(blob)
    return blob


def install(static: pathlib.Path) -> str:
    """Copy the script and its fonts under `static`/mathjax; returns the path for Sphinx's `mathjax_path`."""
    target = static / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    with tarfile.open(fileobj=io.BytesIO(tarball()), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/es5/")
            if member.isfile() and (name == SCRIPT or name.startswith(FONTS + "/")):
                out = target / name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(tar.extractfile(member).read())
    return f"mathjax/{SCRIPT}"


if __name__ == "__main__":  # `make setup`: fetch it now, so that building the book later needs no network
    cached = (CACHE / f"mathjax-{VERSION}.tgz").exists()
    tarball()
    if not cached:
        print(f"MathJax {VERSION} downloaded into {CACHE}")
