"""The parts of a Word package, taken out with zipfile and a hardened lxml parser.

The .docx reader used to open packages with python-docx, which builds an object for every part
and relationship and parses every XML part it knows into custom element classes: 4.7 ms a file
and as much again for the garbage collector, for the four parts the reader reads. This module
keeps what that open checked and nothing else:

* [Content_Types].xml and the relationships (``_rels/*.rels``) are parsed; every part reachable
  from the package's relationships must exist and have a content type, and the main document
  (the package's ``officeDocument`` relationship) must be a Word document, not a template or a
  macro document (python-docx's rules, so the same files are "corrupt" as before);
* the parts read (document, settings, footnotes, endnotes) are parsed; the other XML parts
  python-docx parsed on opening (styles, numbering, headers, footers, comments, core
  properties) are not, nor are binary parts (images) inflated: nothing of theirs is read, and
  python-docx's template alone has 350 KB of styles. A damaged part there was "corrupt" before
  and is read now; Word repairs such a file on opening, and the text the office reads is whole.

Everything is parsed with `SAFE_PARSER`: no entity resolution, no network, libxml2's default
depth and text-node limits (no ``huge_tree``). ooxml.open_package has already refused DTDs and
bounded every part's size, so a part is at most MAX_XML_PART bytes of plain XML here.
"""

from __future__ import annotations

import posixpath
import zipfile

from lxml import etree

_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_OFFICE_DOCUMENT = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
                    "officeDocument")
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"

# remove_blank_text as python-docx parses (whitespace between elements dropped; a <w:t> that
# holds only spaces keeps them), so the text read is the same to the character.
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                              remove_blank_text=True)


class PackageError(ValueError):
    """The zip is not a readable Word package (a relationship points nowhere, a part has no
    content type, the main part is not a document). Reported as "corrupt"."""


class WordPackage:
    """A Word package's parts by name, for a zip ooxml.open_package has checked."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self._defaults: dict[str, str] = {}
        self._overrides: dict[str, str] = {}
        types = parse(archive.read("[Content_Types].xml"))
        for item in types.iterfind(_CT + "Default"):
            self._defaults[item.get("Extension", "").lower()] = item.get("ContentType", "")
        for item in types.iterfind(_CT + "Override"):
            self._overrides[item.get("PartName", "").lower()] = item.get("ContentType", "")
        self._rels: dict[str, list[tuple[str, str]]] = {}
        self.main = self._check_graph()

    def content_type(self, partname: str) -> str:
        if partname.lower() in self._overrides:
            return self._overrides[partname.lower()]
        extension = posixpath.splitext(partname)[1].removeprefix(".").lower()
        if extension in self._defaults:
            return self._defaults[extension]
        raise PackageError(f"no content type for {partname}")

    def relationships(self, partname: str) -> list[tuple[str, str]]:
        """(type, target part name) of the internal relationships of a part ("/" for the
        package), in their order in the .rels part; none when it has no .rels part."""
        if partname not in self._rels:
            directory, name = posixpath.split(partname)
            try:
                xml = self.archive.read(posixpath.join(directory, "_rels", name + ".rels")[1:])
            except KeyError:
                xml = None
            found = []
            for rel in parse(xml).iterfind(_PKG_REL) if xml is not None else ():
                if rel.get("TargetMode", "Internal") == "External":
                    continue
                target = rel.get("Target")
                if target is None:
                    raise PackageError(f"a relationship of {partname} has no target")
                # As python-docx resolves it: relative to the source's directory, or absolute.
                base = directory if partname != "/" else "/"
                found.append((rel.get("Type", ""), posixpath.normpath(
                    posixpath.join(base, target))))
            self._rels[partname] = found
        return self._rels[partname]

    def read(self, partname: str) -> bytes:
        return self.archive.read(partname[1:])

    def related(self, partname: str, suffix: str) -> list[str]:
        """The parts `partname` relates to with a relationship type ending in /`suffix`."""
        return [target for kind, target in self.relationships(partname)
                if kind.endswith("/" + suffix)]

    def _check_graph(self) -> str:
        """Check every part reachable from the package as python-docx's open did: it exists
        and has a content type. The main document's part name."""
        mains = [target for kind, target in self.relationships("/") if kind == _OFFICE_DOCUMENT]
        if len(mains) != 1:
            raise PackageError("no single main document")
        if self.content_type(mains[0]) != WORD_MAIN:
            raise PackageError("the main part is not a Word document")
        seen: set[str] = set()
        pending = ["/"]
        while pending:
            for _kind, target in self.relationships(pending.pop()):
                if target not in seen:
                    seen.add(target)
                    self.archive.getinfo(target[1:])  # KeyError: a dangling relationship
                    self.content_type(target)
                    pending.append(target)
        return mains[0]


def parse(xml: bytes) -> etree._Element:
    """One XML part as an element tree, with the hardened parser."""
    return etree.fromstring(xml, SAFE_PARSER)
