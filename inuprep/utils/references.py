"""A reference to cite, as a sentence for reports and as a BibTeX entry (``logs/CITATION.bib``)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """One publication. ``key`` is what a methods text cites as ``[@key]`` and the BibTeX key."""

    key: str
    authors: tuple[str, ...]  # "Family, Given Names"; a last "others" stands for the authors not listed
    title: str
    venue: str  # the journal, the proceedings or the archive
    year: int
    kind: str = "article"  # the BibTeX entry type: article, inproceedings or misc
    volume: str = ""
    number: str = ""
    pages: str = ""
    doi: str = ""
    eprint: str = ""  # an arXiv identifier
    note: str = ""  # what of it is used here, when that is not the whole

    def text(self) -> str:
        """Return the reference as a sentence: "Family AB, et al. Title. Venue vol(no):pages, year."."""
        listed = [a for a in self.authors if a != "others"]
        names = [_short(a) for a in listed[:3]]
        authors = ", ".join(names) + (", et al." if len(listed) > 3 or "others" in self.authors else ".")
        where = f"arXiv:{self.eprint}" if self.eprint else self.venue
        where += f" {self.volume}" if self.volume else ""
        where += f"({self.number})" if self.number else ""
        where += ((":" if self.volume else ", ") + self.pages) if self.pages else ""
        parts = [authors, f"{self.title}.", f"{where}, {self.year}."]
        parts += [f"doi:{self.doi}."] if self.doi else []
        parts += [f"({self.note})"] if self.note else []
        return " ".join(parts)

    def bibtex(self) -> str:
        """Return the reference as a BibTeX entry."""
        venue = {"article": "journal", "inproceedings": "booktitle"}.get(self.kind, "howpublished")
        fields = {
            "author": " and ".join(self.authors),
            "title": f"{{{self.title}}}",  # braced: BibTeX styles keep its capitals
            venue: self.venue,
            "year": str(self.year),
            "volume": self.volume,
            "number": self.number,
            "pages": self.pages.replace("-", "--"),
            "doi": self.doi,
            "eprint": self.eprint,
            "archiveprefix": "arXiv" if self.eprint else "",
            "note": self.note,
        }
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items() if value)
        return f"@{self.kind}{{{self.key},\n{body}\n}}\n"


def _short(author: str) -> str:
    """ "Tustison, Nicholas J." -> "Tustison NJ"."""
    family, _, given = author.partition(", ")
    return f"{family} " + "".join(word[0] for word in given.replace("-", " ").split())
