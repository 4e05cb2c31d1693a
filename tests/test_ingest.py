import logging

from helpers import SEED
from rag.ingest import read_seeds, split_documents

EXPECTED = [
    ("Sheila Fitzpatrick: Not Corrupt Enough", ("Sheila Fitzpatrick",), "London Review of Books", "3/20/25"),
    ("Europe’s Fighting Talk is no Substitute for Hard Power", ("Matthew Blackburn", "Patricia Marins"),
     "The National Interest", "3/19/25"),
    ("Michael Vlahos: America’s New Lost Cause", ("Michael Vlahos",), "The Realist Review", "4/3/25"),
    ("Lee Fang: Mike Waltz’s Signal Chats Aren’t the Real Scandal", ("Lee Fang",), "Substack", "4/4/25"),
    ("Intellinews: Kremlin envoy Dmitriev says “significant progress” made in talks during Washington trip",
     (), "Intellinews", "4/4/25"),
    ("Putin’s Economic Envoy Helped Break The Russian-US Impasse On Ukraine", ("Andrew Korybko",),
     "Substack", "4/4/25"),
]


def test_seed_digest_splits_into_its_six_articles_with_bylines():
    text = SEED.read_text(encoding="utf-8")
    docs = split_documents(text, SEED.name)
    assert [(d.title, d.authors, d.outlet, d.date) for d in docs] == EXPECTED
    for d in docs:
        assert text[d.start:d.end] == d.text
        assert d.content_hash


def test_separators_and_footer_belong_to_no_article_but_headings_stay():
    docs = split_documents(SEED.read_text(encoding="utf-8"), SEED.name)
    joined = "".join(d.text for d in docs)
    assert "***" not in joined
    assert "Analysis & Book Reviews on U.S. Foreign Policy and Russia" not in joined
    intellinews = docs[4]
    assert "\nSanctions relief\n" in intellinews.text and "\nProgress\n" in intellinews.text
    assert docs[3].text.endswith("proxy battle.")  # the Lee Fang piece ends before the next headline


DIGEST = """Weekly Digest

Moon Base Opens to Tourists

By Ada Lovelace and Alan Turing, Space Gazette, 2024-05-01

The first hotel on the Moon opened on Monday. Rooms cost 2 million dollars a night.

Prices

Critics said the prices were too high.

---

Rivers Are Getting Warmer

Note: reprinted with permission.

Climate Weekly, May 3, 2024

River temperatures rose by 1.2 degrees over the decade. Fish moved north.

* * *

Subscribe for more digests
"""


def test_a_handwritten_digest_splits_by_shape_not_line_numbers():
    docs = split_documents(DIGEST, "digest.txt")
    assert [d.title for d in docs] == ["Moon Base Opens to Tourists", "Rivers Are Getting Warmer"]
    moon, rivers = docs
    assert moon.authors == ("Ada Lovelace", "Alan Turing") and moon.outlet == "Space Gazette"
    assert moon.date == "2024-05-01" and "Critics said" in moon.text and "---" not in moon.text
    assert rivers.authors == () and rivers.outlet == "Climate Weekly" and rivers.date == "May 3, 2024"
    assert rivers.text.endswith("Fish moved north.")
    assert "Subscribe" not in rivers.text and "* * *" not in rivers.text
    assert all(DIGEST[d.start:d.end] == d.text for d in docs)


def test_plain_file_is_one_document_titled_by_its_first_line(tmp_path):
    (tmp_path / "note.md").write_text("# Harbour report\n\nShips arrived late.\n", encoding="utf-8")
    (tmp_path / "long_first_line.txt").write_text("word " * 40 + "\n", encoding="utf-8")
    docs = read_seeds(tmp_path).documents
    assert [(d.title, d.source) for d in docs] == [("long first line", "long_first_line.txt"),
                                                 ("Harbour report", "note.md")]


def test_bad_files_are_skipped_with_a_warning_naming_them(tmp_path, caplog):
    (tmp_path / "good.txt").write_text("A good file about ships.", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"   \n")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "image.png").write_bytes(b"\x89PNG")  # not a supported kind: ignored silently
    with caplog.at_level(logging.WARNING):
        result = read_seeds(tmp_path)
    assert [d.source for d in result.documents] == ["good.txt"]
    assert dict(result.skipped) == {"binary.txt": "the file is binary, not text",
                                    "empty.txt": "the file is empty",
                                    "latin1.txt": "the file is not valid UTF-8 (byte 3)"}
    for name in ("binary.txt", "empty.txt", "latin1.txt"):
        assert name in caplog.text


def test_markdown_headline_marks_are_not_part_of_the_title():
    text = "# Reindeer count\n\nBy Aino Virtanen, Arctic Times, 5/6/24\n\nHerders counted reindeer.\n"
    (doc,) = split_documents(text, "r.md")
    assert (doc.title, doc.authors, doc.outlet) == ("Reindeer count", ("Aino Virtanen",), "Arctic Times")


# -- publication dates --------------------------------------------------------------------------
import pytest  # noqa: E402

from rag.dates import parse_date  # noqa: E402
from rag.types import Chunk  # noqa: E402


def test_byline_dates_become_iso_dates_on_documents():
    docs = split_documents(SEED.read_text(encoding="utf-8"), SEED.name)
    assert [d.published for d in docs] == ["2025-03-20", "2025-03-19", "2025-04-03", "2025-04-04",
                                           "2025-04-04", "2025-04-04"]
    moon, rivers = split_documents(DIGEST, "digest.txt")
    assert (moon.date, moon.published) == ("2024-05-01", "2024-05-01")
    assert (rivers.date, rivers.published) == ("May 3, 2024", "2024-05-03")


@pytest.mark.parametrize("written, iso", [
    ("3/20/25", "2025-03-20"), ("4/3/25", "2025-04-03"), ("20/3/25", "2025-03-20"), ("3/20/2025", "2025-03-20"),
    ("2025-03-20", "2025-03-20"), ("Mar 20, 2025", "2025-03-20"), ("March 20, 2025", "2025-03-20"),
    ("Sept. 2, 2024", "2024-09-02"), ("20 March 2025", "2025-03-20"), ("12/31/99", "1999-12-31"),
    ("2/30/25", None), ("13/13/25", None), ("Smarch 3, 2025", None), ("", None), (None, None),
])
def test_parse_date_reads_the_usual_byline_forms_and_refuses_impossible_dates(written, iso):
    assert parse_date(written) == iso


def test_chunks_carry_the_iso_date_through_the_index_format_and_from_old_indexes():
    docs = split_documents(SEED.read_text(encoding="utf-8"), SEED.name)
    from rag.chunk import Chunker

    chunk = Chunker(200, 40).chunk(docs[2])[0]
    assert chunk.published == "2025-04-03" and chunk.date == "4/3/25"
    assert Chunk.from_dict(chunk.to_dict()) == chunk
    old = chunk.to_dict()
    del old["published"]  # written before the field existed
    assert Chunk.from_dict(old).published == "2025-04-03"


def test_plain_files_have_no_date():
    (doc,) = split_documents("Harbour report\n\nShips arrived late.\n", "note.md")
    assert doc.date is None and doc.published is None


def test_a_missing_seeds_folder_is_an_error_not_an_empty_collection(tmp_path):
    from rag.ingest import SeedsMissingError

    with pytest.raises(SeedsMissingError, match=r"seeds folder .*typo does not exist: create it or pass --seeds"):
        read_seeds(tmp_path / "typo")
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    with pytest.raises(SeedsMissingError, match="is not a folder"):
        read_seeds(tmp_path / "file.txt")
