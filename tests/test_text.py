"""HTML to text (watcher/text.py): bare markup is read without HTMLParser, to the same text."""

from __future__ import annotations

import random

from watcher.text import _bare_markup_text, _extracted, html_to_text


def test_bare_markup_is_read_as_htmlparser_reads_it() -> None:
    """5,000 random fragments of bare tags (block, inline, unknown, raw-text ones), tags with
    attributes, upper case, comments, entities, stray brackets and text: whatever the shortcut
    reads equals HTMLParser's text, and it reads a good share of them."""
    rng = random.Random(16)
    pieces = ["<p>", "</p>", "<br>", "<b>", "</i>", "<li>", "</ul>", "<h2>", "<foo>", "</x1>", "<script>", "</style>",
              "<title>", "<textarea>", "<P>", "<p class=x>", "<a href='/x'>", "</a>", "<br/>", "<!-- c -->", "<!x>",
              "<?pi?>", "&amp;", "&#39;", "&nbsp;", "a < b", "c > d", "<", ">", " ", "\n", "Каримов", "é", "word",
              "'", '"', "=", "/", "< p>", "<p >", "</p >", "<svg>", "<tr>", "<u>x</u>"]
    taken = 0
    for _ in range(5000):
        html = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        bare = _bare_markup_text(html)
        if bare is not None:
            taken += 1
            assert bare == _extracted(html), html
    assert 300 < taken < 4000, taken


def test_a_paragraph_and_a_line_break_keep_their_lines() -> None:
    assert html_to_text("<p>Karimov detained</p><p>in <b>Istanbul</b></p>") == "Karimov detained\nin Istanbul"
    assert html_to_text("<p>one<br>two</p><script>x</script>") == "one\ntwo"
