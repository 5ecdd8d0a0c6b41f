"""Chunking: sections, packing, overlap, splitting of long text, determinism."""

from __future__ import annotations

import hashlib

import pytest

from knowledge.ingestion import tokens
from knowledge.ingestion.chunking import ChunkDraft, chunk_blocks
from knowledge.ingestion.parsers import MARKDOWN, Block, parse


def words(text: str) -> int:
    """A predictable stand-in for the model tokenizer: one token per word."""
    return len(text.split())


def sentence(label: str, length: int) -> str:
    """A sentence of exactly ``length`` words ending with a full stop."""
    return " ".join([label] + [f"{label.lower()}{index}" for index in range(1, length)]) + "."


def chunk(blocks: list[Block], **options: int) -> list[ChunkDraft]:
    return chunk_blocks(blocks, count_tokens=words, **options)


def test_small_paragraphs_pack_into_one_chunk() -> None:
    blocks = [Block("First para.", ("Fees",), None), Block("Second para.", ("Fees",), None)]
    [only] = chunk(blocks)
    assert only.text == "First para.\n\nSecond para."
    assert only.heading_path == ("Fees",)
    assert (only.ordinal, only.token_count, only.page) == (0, 4, None)


def test_content_hash_covers_heading_path_and_text() -> None:
    [draft] = chunk([Block("Body.", ("A", "B"), None)])
    expected = hashlib.sha256(b"A\x1fB\x1eBody.").hexdigest()
    assert draft.content_hash == expected
    [other] = chunk([Block("Body.", ("A", "C"), None)])
    assert other.content_hash != draft.content_hash


def test_sections_never_share_a_chunk_and_headings_are_not_text() -> None:
    blocks = [
        Block("Fees", ("Fees",), None, is_heading=True),
        Block("Fee text.", ("Fees",), None),
        Block("Cards", ("Fees", "Cards"), None, is_heading=True),
        Block("Card text.", ("Fees", "Cards"), None),
        Block("Empty section", ("Empty section",), None, is_heading=True),
        Block("Loans", ("Loans",), None, is_heading=True),
        Block("   ", ("Loans",), None),
        Block("Loan text.", ("Loans",), None),
    ]
    drafts = chunk(blocks, max_tokens=100)
    assert [(draft.heading_path, draft.text) for draft in drafts] == [
        (("Fees",), "Fee text."),
        (("Fees", "Cards"), "Card text."),
        (("Loans",), "Loan text."),
    ]
    assert [draft.ordinal for draft in drafts] == [0, 1, 2]


def test_repeated_heading_with_same_title_starts_a_new_chunk() -> None:
    blocks = [
        Block("Notes", ("Notes",), None, is_heading=True),
        Block("One.", ("Notes",), None),
        Block("Notes", ("Notes",), None, is_heading=True),
        Block("Two.", ("Notes",), None),
    ]
    assert [draft.text for draft in chunk(blocks)] == ["One.", "Two."]


def test_headings_only_document_keeps_the_headings() -> None:
    blocks = [
        Block("Policy", ("Policy",), None, is_heading=True),
        Block("Scope", ("Policy", "Scope"), None, is_heading=True),
    ]
    [only] = chunk(blocks)
    assert only.text == "Policy\n\nScope"
    assert only.heading_path == ()


def test_no_blocks_no_chunks() -> None:
    assert chunk([]) == []
    assert chunk([Block(" \n ", (), None)]) == []


def test_greedy_packing_of_whole_paragraphs_with_overlap() -> None:
    paragraphs = [
        sentence("Alpha", 4) + " " + sentence("Beta", 3),
        sentence("Gamma", 5),
        sentence("Delta", 5),
    ]
    blocks = [Block(text, ("S",), None) for text in paragraphs]
    drafts = chunk(blocks, max_tokens=12, overlap_tokens=3)
    assert [draft.text for draft in drafts] == [
        f"{paragraphs[0]}\n\n{paragraphs[1]}",
        f"{paragraphs[2]}",
    ]
    # The trailing sentence of the first chunk (Gamma, 5 words) exceeds the 3-token overlap.
    drafts = chunk(blocks, max_tokens=12, overlap_tokens=5)
    assert [draft.text for draft in drafts] == [
        f"{paragraphs[0]}\n\n{paragraphs[1]}",
        f"{paragraphs[1]}\n\n{paragraphs[2]}",
    ]


def test_overlap_uses_whole_trailing_sentences_within_budget() -> None:
    first = " ".join([sentence("One", 6), sentence("Two", 2), sentence("Three", 2)])
    second = sentence("Four", 6)
    drafts = chunk([Block(first, (), None), Block(second, (), None)], max_tokens=12)
    assert drafts[0].text == first
    assert drafts[1].text == f"{sentence('Two', 2)} {sentence('Three', 2)}\n\n{second}"
    assert all(draft.token_count <= 12 for draft in drafts)


def test_overlap_is_trimmed_so_the_next_chunk_fits() -> None:
    first = " ".join([sentence("One", 4), sentence("Two", 2), sentence("Three", 2)])
    second = sentence("Four", 9)
    drafts = chunk([Block(first, (), None), Block(second, (), None)], max_tokens=12)
    assert drafts[1].text == f"{sentence('Three', 2)}\n\n{second}"


def test_no_overlap_across_sections() -> None:
    blocks = [Block(sentence("Alpha", 3), ("A",), None), Block(sentence("Beta", 3), ("B",), None)]
    drafts = chunk(blocks, max_tokens=4, overlap_tokens=3)
    assert [draft.text for draft in drafts] == [sentence("Alpha", 3), sentence("Beta", 3)]


def test_zero_overlap() -> None:
    blocks = [Block(sentence(label, 3), (), None) for label in ("Alpha", "Beta", "Gamma")]
    drafts = chunk(blocks, max_tokens=4, overlap_tokens=0)
    assert [draft.text for draft in drafts] == [block.text for block in blocks]


def test_long_paragraph_is_split_at_sentences_with_overlap() -> None:
    sentences = [sentence(f"S{index}", 4) for index in range(10)]
    drafts = chunk([Block(" ".join(sentences), ("Long",), None)], max_tokens=12, overlap_tokens=4)
    assert [draft.text for draft in drafts] == [
        " ".join(sentences[0:3]),
        " ".join(sentences[2:5]),
        " ".join(sentences[4:7]),
        " ".join(sentences[6:9]),
        " ".join(sentences[8:10]),
    ]
    assert all(draft.heading_path == ("Long",) for draft in drafts)


def test_giant_sentence_is_hard_split() -> None:
    giant = " ".join(f"word{index}" for index in range(50)) + "."
    drafts = chunk([Block(giant, (), None)], max_tokens=8, overlap_tokens=0)
    assert all(draft.token_count <= 8 for draft in drafts)
    assert " ".join(draft.text for draft in drafts) == giant


def test_paragraph_spacing_is_preserved_for_code() -> None:
    code = "def fee(x):\n    return x * 2"
    [draft] = chunk([Block("Intro.", (), None), Block(code, (), None)])
    assert draft.text == f"Intro.\n\n{code}"


def test_page_is_the_first_blocks_page() -> None:
    blocks = [
        Block(sentence("Alpha", 3), (), 1),
        Block(sentence("Beta", 3), (), 2),
        Block(sentence("Gamma", 3), (), 3),
    ]
    drafts = chunk(blocks, max_tokens=6, overlap_tokens=0)
    assert [(draft.page, draft.text.count("\n\n")) for draft in drafts] == [(1, 1), (3, 0)]


def test_page_of_a_chunk_starting_with_overlap() -> None:
    alpha, beta, gamma = sentence("Alpha", 2), sentence("Beta", 3), sentence("Gamma", 3)
    blocks = [Block(alpha, (), 1), Block(beta, (), 2), Block(gamma, (), 3)]
    drafts = chunk(blocks, max_tokens=6, overlap_tokens=3)
    assert [(draft.page, draft.text) for draft in drafts] == [
        (1, f"{alpha}\n\n{beta}"),
        (2, f"{beta}\n\n{gamma}"),
    ]


def test_deterministic() -> None:
    blocks = [
        Block("Intro", ("Intro",), None, is_heading=True),
        *[
            Block(" ".join(sentence(f"P{i}S{j}", 7) for j in range(5)), ("Intro",), i)
            for i in range(6)
        ],
    ]
    first = chunk_blocks(blocks, max_tokens=40, overlap_tokens=10)
    second = chunk_blocks(list(blocks), max_tokens=40, overlap_tokens=10)
    assert first == second
    assert len({draft.content_hash for draft in first}) == len(first)


def test_invalid_budget() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk([Block("x", (), None)], max_tokens=0)


# --------------------------------------------------------------------------- real tokenizer


def test_count_tokens_uses_word_pieces_without_special_tokens() -> None:
    assert tokens.count_tokens("") == 0
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("unaffordable") > 1
    long_text = "word " * 1000
    assert tokens.count_tokens(long_text) == 1000  # no truncation at 128/512


def test_split_to_token_budget_cuts_on_whitespace() -> None:
    text = "Interchange reimbursement unaffordable " * 20
    pieces = tokens.split_to_token_budget(text, 10)
    assert all(tokens.count_tokens(piece) <= 10 for piece in pieces)
    assert " ".join(pieces).split() == text.split()


def test_split_to_token_budget_cuts_inside_a_word_only_when_needed() -> None:
    text = "x" * 20 + "中文字符测试中文字符测试"
    pieces = tokens.split_to_token_budget(text, 5)
    assert len(pieces) > 1
    assert all(tokens.count_tokens(piece) <= 5 for piece in pieces)
    assert "".join(pieces) == text


def test_real_tokenizer_chunks_stay_within_budget() -> None:
    paragraph = (
        "Cardholders may dispute unauthorised transactions within sixty days. "
        "Chargebacks are processed under the card scheme's reason codes! "
        "Is the merchant unresponsive? Then escalate to the disputes team. "
    ) * 6
    giant = "reimbursement-eligible " * 300
    blocks = [
        Block("Disputes", ("Disputes",), None, is_heading=True),
        Block(paragraph.strip(), ("Disputes",), None),
        Block(giant.strip(), ("Disputes",), None),
        Block("Short closing note.", ("Disputes",), None),
    ]
    drafts = chunk_blocks(blocks, max_tokens=64, overlap_tokens=16)
    assert len(drafts) > 3
    for draft in drafts:
        assert draft.token_count == tokens.count_tokens(draft.text)
        assert 0 < draft.token_count <= 64
        assert draft.heading_path == ("Disputes",)
    assert [draft.ordinal for draft in drafts] == list(range(len(drafts)))
    assert chunk_blocks(blocks, max_tokens=64, overlap_tokens=16) == drafts


def test_non_additive_counter_still_respects_the_budget() -> None:
    """Character counts grow with the separators between sentences; chunks must still fit."""
    blocks = [
        Block("Alpha beta gamma. Delta epsilon zeta eta theta. Iota kappa.", ("S",), None),
        Block("Lambda mu nu xi omicron pi rho sigma tau.", ("S",), None),
    ]
    drafts = chunk_blocks(blocks, max_tokens=30, overlap_tokens=12, count_tokens=len)
    assert all(draft.token_count == len(draft.text) <= 30 for draft in drafts)
    all_words = " ".join(block.text for block in blocks).split()
    assert set(all_words) <= set(" ".join(draft.text for draft in drafts).split())


def test_parsed_markdown_end_to_end() -> None:
    document = (
        b"# Cards\n\nDebit cards are free. Credit cards cost \xc2\xa35 a month.\n\n"
        b"## Lost cards\n\nCall the hotline at once.\n\n## Heading without body\n"
    )
    drafts = chunk_blocks(parse(document, MARKDOWN))
    assert [(draft.heading_path, draft.text) for draft in drafts] == [
        (("Cards",), "Debit cards are free. Credit cards cost \u00a35 a month."),
        (("Cards", "Lost cards"), "Call the hotline at once."),
    ]
    assert drafts[1].token_count == tokens.count_tokens("Call the hotline at once.")
