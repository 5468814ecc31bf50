"""arXiv listing feeds as a catalog (recommender.io.feeds): RSS and Atom files written for these
tests, and a URL served by a local HTTP server started here (never the network), with its
timeout and size limit."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recommender.io import read_catalog
from recommender.io.feeds import fetch, parse_feed
from recommender.io.lines import LoaderError

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom"
     version="2.0">
  <channel>
    <title>cs.LG updates</title>
    <link>http://example.invalid/rss/cs.LG</link>
    <description>New papers</description>
    <item>
      <title>Sparse mixtures of graph experts</title>
      <link>https://arxiv.org/abs/2612.01234</link>
      <description>arXiv:2612.01234v1 Announce Type: new
Abstract: We route each node to a few &lt;b&gt;graph&lt;/b&gt; experts.</description>
      <guid isPermaLink="false">oai:arXiv.org:2612.01234v1</guid>
      <category>cs.LG</category>
      <category>stat.ML</category>
      <pubDate>Wed, 02 Dec 2026 00:00:00 -0500</pubDate>
      <dc:creator>Ada Example, Bo Sample and Cy Person</dc:creator>
    </item>
    <item>
      <title>Old-style titles carry the id (arXiv:2612.05678v2 [cs.LG] UPDATED)</title>
      <link>http://arxiv.org/abs/2612.05678v2</link>
      <description>arXiv:2612.05678v2 Announce Type: replace
Abstract: Second paper.</description>
      <pubDate>Wed, 02 Dec 2026 00:00:00 -0500</pubDate>
      <dc:creator>Dee Writer</dc:creator>
    </item>
  </channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title>query results</title>
  <entry>
    <id>http://arxiv.org/abs/2101.00001v2</id>
    <published>2021-01-01T18:00:00Z</published>
    <title>A paper
      over two lines</title>
    <summary>  The abstract,
    wrapped.  </summary>
    <author><name>Eve Author</name></author>
    <author><name>Finn Author</name></author>
    <arxiv:doi>10.1000/ATOM.1</arxiv:doi>
    <category term="math.CO" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>
"""


def test_an_rss_listing_becomes_dated_papers_with_their_arxiv_ids(tmp_path: Path) -> None:
    path = tmp_path / "cs.LG.xml"
    path.write_text(RSS)
    catalog = read_catalog(path)
    a, b = list(catalog)
    assert (a.paper_id, a.arxiv_id, a.title) == (
        "2612.01234",
        "2612.01234",
        "Sparse mixtures of graph experts",
    )
    assert a.abstract == "We route each node to a few graph experts."
    assert a.authors == ("Ada Example", "Bo Sample", "Cy Person")
    assert a.categories == ("cs.LG", "stat.ML")
    assert (a.published, a.year, a.url) == ("2026-12-02", 2026, "https://arxiv.org/abs/2612.01234")
    assert (b.paper_id, b.title, b.abstract) == (
        "2612.05678",
        "Old-style titles carry the id",
        "Second paper.",
    )


def test_an_atom_answer_of_the_arxiv_api(tmp_path: Path) -> None:
    path = tmp_path / "query.atom"
    path.write_text(ATOM)
    (p,) = list(read_catalog(path))
    assert (p.paper_id, p.title, p.abstract) == (
        "2101.00001",
        "A paper over two lines",
        "The abstract, wrapped.",
    )
    assert (p.authors, p.doi, p.published, p.categories) == (
        ("Eve Author", "Finn Author"),
        "10.1000/atom.1",
        "2021-01-01",
        ("math.CO",),
    )
    # Told apart from JSON lines by its first character when the suffix says nothing.
    odd = tmp_path / "listing"
    odd.write_text(ATOM)
    assert [x.paper_id for x in read_catalog(odd)] == ["2101.00001"]


def test_a_feed_that_is_not_one_or_not_arxiv_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="not an RSS or Atom feed with items"):
        parse_feed(b"<html><body>Not found</body></html>", "page.xml")
    other = RSS.replace("https://arxiv.org/abs/2612.01234", "https://example.invalid/post/1")
    with pytest.raises(LoaderError, match=r"item 1 \('Sparse mixtures.*has no arXiv id"):
        parse_feed(other.encode(), "blog.xml")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        if self.path == "/slow":
            time.sleep(3)
        body = {"/big": b"<rss>" + b" " * 5000 + b"</rss>"}.get(self.path, RSS.encode())
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_feed_url_is_fetched_with_a_timeout_and_a_size_limit(server: str) -> None:
    catalog = read_catalog(f"{server}/rss/cs.LG")
    assert [p.paper_id for p in catalog] == ["2612.01234", "2612.05678"]
    with pytest.raises(LoaderError, match="larger than 1000 bytes"):
        fetch(f"{server}/big", max_bytes=1000)
    with pytest.raises(LoaderError, match="cannot fetch it"):
        fetch(f"{server}/slow", timeout_s=0.5)
    with pytest.raises(LoaderError, match="the server answered 404"):
        read_catalog(f"{server}/missing")
    with pytest.raises(ValueError, match="read as an arXiv feed"):
        read_catalog(f"{server}/rss", "csv")
