"""The built-in extractive answerer."""

from __future__ import annotations

from assistant.answering.citations import check_citations
from assistant.answering.extractive import (
    NO_ANSWER,
    PREFIX,
    WEAK_PREFIX,
    Source,
    extractive_answer,
    normalise,
    split_sentences,
    terms,
)

SOURCES = [
    Source(
        number=1,
        title="Card disputes",
        text=(
            "A customer may dispute a card transaction within 120 days. "
            "Disputed transactions are investigated by the disputes team. "
            "The office is closed on public holidays."
        ),
    ),
    Source(
        number=2,
        title="Address changes",
        text=(
            "Address changes need proof of address. A utility bill or bank statement is accepted."
        ),
    ),
    Source(
        number=3,
        title="Card limits",
        text="Daily card transaction limits are set by the customer's segment.",
    ),
]


def test_normalisation_and_terms() -> None:
    assert normalise("disputes") == normalise("disputed") == normalise("dispute")
    assert normalise("addresses") == normalise("address")
    assert normalise("policies") == normalise("policy")
    assert terms("How do I dispute the card?") == {normalise("dispute"), "card"}


def test_split_sentences() -> None:
    assert split_sentences("One here. Two there!  Three?\n\nFour") == [
        "One here.",
        "Two there!",
        "Three?",
        "Four",
    ]


def test_answer_cites_the_right_sources_in_source_order() -> None:
    answer = extractive_answer("How many days to dispute a card transaction?", SOURCES)
    assert answer.text_markdown.startswith(PREFIX)
    assert answer.cited == [1, 3]
    body = answer.text_markdown.split("\n\n", 1)[1]
    lines = body.splitlines()
    assert lines[0] == "- A customer may dispute a card transaction within 120 days. [1]"
    assert lines[-1].endswith("[3]")
    assert len(lines) <= 3
    assert "public holidays" not in answer.text_markdown
    assert "Address" not in answer.text_markdown


def test_at_most_two_sentences_per_source_and_three_in_all() -> None:
    source = Source(
        number=4,
        title="Many",
        text="Card fees apply. Card fees vary. Card fees are listed. Card fees are waived.",
    )
    answer = extractive_answer("card fees", [source, *SOURCES])
    lines = answer.text_markdown.split("\n\n", 1)[1].splitlines()
    assert sum(line.endswith("[4]") for line in lines) == 2
    assert len(lines) <= 3


def test_address_question() -> None:
    answer = extractive_answer("What proof is needed for an address change?", SOURCES)
    assert answer.cited == [2]
    assert "proof of address. [2]" in answer.text_markdown


def test_says_plainly_when_nothing_matches() -> None:
    answer = extractive_answer("What is the mortgage interest rate?", SOURCES)
    assert answer.text_markdown == NO_ANSWER
    assert answer.cited == []
    assert "[" not in answer.text_markdown
    assert extractive_answer("card", []).cited == []
    assert extractive_answer("the of and", SOURCES).text_markdown == NO_ANSWER


def test_a_paraphrased_question_gets_the_closest_passages_of_the_top_sources() -> None:
    answer = extractive_answer("How long do we have to answer a dispute?", SOURCES)
    assert answer.text_markdown.startswith(WEAK_PREFIX)
    assert "within 120 days. [1]" in answer.text_markdown
    assert answer.cited == [1]
    # Only the best-ranked sources may give a weak match: source 3 is third.
    question = "What are the daily withdrawal rules for business accounts?"
    assert extractive_answer(question, SOURCES).text_markdown == NO_ANSWER


def test_a_copied_sentence_carries_no_citation_marker_of_its_own() -> None:
    sources = [
        Source(number=1, title="Fees", text="The annual card fee is 5 euros [2][3]."),
        Source(number=2, title="Hours", text="Branches open at nine."),
        Source(number=3, title="Parking", text="Staff park behind the building."),
    ]
    answer = extractive_answer("What is the annual card fee?", sources)
    assert answer.cited == [1]
    assert "[2]" not in answer.text_markdown and "[3]" not in answer.text_markdown
    assert "5 euros \uff3b2\uff3d\uff3b3\uff3d. [1]" in answer.text_markdown
    _, kept, _ = check_citations(answer.text_markdown, {1, 2, 3})
    assert kept == [1]
