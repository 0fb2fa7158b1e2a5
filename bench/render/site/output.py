"""Writing the site: only into a folder that is empty or was published before (its manifest says so), each page
through a temporary file and a rename, and only when its inputs changed (a digest per page in the manifest).

A page's digest covers everything it is rendered from (its context) and the site's code and templates, so a page
whose digest is in the manifest and whose file is there is left alone: publishing an unchanged store again
writes nothing but the manifest. Pages the manifest lists that this publish no longer makes are removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from bench import config
from envcheck.codec import DecodeError, read_json
from envcheck.files import OutputError, describe, inside, json_text, write_atomic

TOOL = "torchrig.site"
VERSION = 1


def digest(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass
class SiteWriter:
    out: Path
    force: bool = False  # render every page again, whatever the manifest says
    previous: dict[str, str] = dataclasses.field(default_factory=dict)
    pages: dict[str, str] = dataclasses.field(default_factory=dict)
    # results computed for earlier publishes, by the digest of their inputs (the change points of each series):
    # what the last publish left, and what this one used (the manifest keeps only these)
    cached: dict[str, object] = dataclasses.field(default_factory=dict)
    kept: dict[str, object] = dataclasses.field(default_factory=dict)
    written: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        manifest = owned_manifest(self.out)
        self.previous = {str(name): str(key) for name, key in manifest.get("pages", {}).items()}
        cached = manifest.get("cache", {})
        self.cached = cached if isinstance(cached, dict) and not self.force else {}

    def remembered(self, key: str, compute):
        """The result cached under ``key`` (the digest of its inputs) by an earlier publish, else ``compute()``;
        kept for the next publish either way."""
        if key not in self.cached:
            self.cached[key] = compute()
        self.kept[key] = self.cached[key]
        return self.kept[key]

    def needs(self, name: str, key: str) -> bool:
        """Record the page's digest; True when it has to be rendered (new, changed, missing or forced)."""
        self.pages[name] = key
        if not self.force and self.previous.get(name) == key and (self.out / name).is_file():
            self.unchanged.append(name)
            return False
        return True

    def write(self, name: str, content: str | bytes) -> None:
        try:
            write_atomic(inside(self.out, *name.split("/")), content)
        except OSError as error:
            raise OutputError(f"cannot write {self.out / name}: {describe(error)} ({len(self.written)} file(s) "
                              "written before it; publish again to finish)") from None
        self.written.append(name)

    def page(self, name: str, key: str, render) -> None:
        """Write ``render()`` as ``name`` unless its digest ``key`` is unchanged."""
        if self.needs(name, key):
            self.write(name, render())

    def finish(self) -> None:
        """Remove the pages an earlier publish wrote that this one did not make, then write the manifest."""
        for name in sorted(set(self.previous) - set(self.pages)):
            path = inside(self.out, *name.split("/"))
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                raise OutputError(f"cannot remove {path}: {describe(error)}") from None
            self.removed.append(name)
        manifest = {"tool": TOOL, "version": VERSION, "pages": dict(sorted(self.pages.items())), "cache": self.kept}
        try:
            write_atomic(self.out / config.SITE_MANIFEST, json_text(manifest))
        except OSError as error:
            raise OutputError(f"cannot write {self.out / config.SITE_MANIFEST}: {describe(error)}") from None


def owned_manifest(out: Path) -> dict:
    """The manifest of the last publish into ``out`` (its pages, name -> digest, and its cache), {} for a new or
    empty folder; refuses a file, and a folder that holds anything but was never published into (its files are
    someone else's)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; expected a folder for the site")
    manifest = out / config.SITE_MANIFEST
    if not manifest.exists():
        if out.exists() and any(out.iterdir()):
            raise OutputError(f"--out {out} is a folder that `bench publish` did not write (no "
                              f"{config.SITE_MANIFEST}); refusing to write into it (choose an empty or new folder)")
        return {}
    try:
        data = read_json(manifest)
    except (OSError, DecodeError, ValueError) as error:
        raise OutputError(f"{manifest}: not a site manifest ({error}); remove the folder or choose another") from None
    if not isinstance(data, dict) or data.get("tool") != TOOL or not isinstance(data.get("pages"), dict):
        raise OutputError(f"{manifest}: not a `bench publish` manifest; choose another --out")
    if data.get("version") != VERSION:
        return {}  # another layout: every page is rendered again
    return data
