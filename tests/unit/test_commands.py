"""Parsing `/mesh-upgrade` text: typed commands, and errors that show the right usage."""

from __future__ import annotations

import random
import string

import pytest

from bot.slack.command_text import (
    MAX_TEXT,
    Command,
    ParseError,
    Verb,
    out_of_turn,
    parse,
    usage,
)
from bot.upgrade.phases import Action, Phase, RunKind

CLUSTERS = ("aks-prod-weu", "aks-dev", "Staging")


def ok(text: str) -> Command:
    result = parse(text, CLUSTERS)
    assert isinstance(result, Command), getattr(result, "text", result)
    return result


def error(text: str, known: tuple[str, ...] = CLUSTERS) -> str:
    result = parse(text, known)
    assert isinstance(result, ParseError), result
    return result.text


@pytest.mark.parametrize(("text", "expected"), [
    ("", Command(Verb.HELP)),
    ("help", Command(Verb.HELP)),
    ("help sidecars", Command(Verb.HELP, topic=Verb.SIDECARS)),
    ("clusters", Command(Verb.CLUSTERS)),
    ("status", Command(Verb.STATUS)),
    ("status aks-dev", Command(Verb.STATUS, "aks-dev")),
    ("versions aks-dev", Command(Verb.VERSIONS, "aks-dev")),
    ("plan aks-dev --to asm-1-23", Command(Verb.PLAN, "aks-dev", "asm-1-23")),
    ("start aks-dev", Command(Verb.START, "aks-dev")),
    ("start aks-dev --to asm-1-24 --no-tags", Command(Verb.START, "aks-dev", "asm-1-24", False)),
    ("start aks-dev --no-tags --to=asm-1-24", Command(Verb.START, "aks-dev", "asm-1-24", False)),
    ("check aks-dev", Command(Verb.CHECK, "aks-dev")),
    ("sidecars aks-dev --namespace bookinfo",
     Command(Verb.SIDECARS, "aks-dev", namespace="bookinfo")),
    ("sidecars aks-dev -n bookinfo", Command(Verb.SIDECARS, "aks-dev", namespace="bookinfo")),
    ("tags aks-dev", Command(Verb.TAGS, "aks-dev")),
    ("complete aks-dev", Command(Verb.COMPLETE, "aks-dev")),
    ("rollback aks-dev", Command(Verb.ROLLBACK, "aks-dev")),
    ("cancel aks-dev", Command(Verb.CANCEL, "aks-dev")),
    ("patch aks-dev", Command(Verb.PATCH, "aks-dev")),
    ("history aks-dev", Command(Verb.HISTORY, "aks-dev")),
])
def test_every_command_parses_into_its_typed_form(text: str, expected: Command) -> None:
    assert ok(text) == expected


def test_slack_formatting_is_undone_before_parsing() -> None:
    # Slack clients turn "--" into an em dash and names with dots into links.
    assert ok("  START   aks-dev  \u2014to ASM-1-23 \u2013no-tags") == \
        Command(Verb.START, "aks-dev", "asm-1-23", False)
    assert ok("check <http://aks-dev|aks-dev>") == Command(Verb.CHECK, "aks-dev")


def test_cluster_names_match_without_case_and_come_back_as_configured() -> None:
    assert ok("check staging").cluster == "Staging"


def test_a_typo_in_the_command_suggests_the_closest_with_its_usage() -> None:
    text = error("strat aks-dev")
    assert "Unknown command `strat`. Did you mean `start`?" in text
    assert usage(Verb.START) in text


def test_an_unknown_word_lists_the_commands() -> None:
    text = error("xyzzy aks-dev")
    assert "`rollback`" in text and "`history`" in text


def test_an_unknown_cluster_names_the_closest_and_the_known_ones() -> None:
    text = error("check aks-prod")
    assert "Unknown cluster `aks-prod`. Did you mean `aks-prod-weu`?" in text
    assert "Known clusters: `aks-prod-weu`, `aks-dev`, `Staging`." in text


def test_many_known_clusters_are_listed_shortly() -> None:
    known = tuple(f"c{i}" for i in range(500))
    text = error("check nope", known)
    assert "and 480 more" in text and len(text) < 1000


def test_a_missing_cluster_says_so_and_shows_usage() -> None:
    text = error("start")
    assert "`start` needs a cluster." in text and usage(Verb.START) in text


def test_an_unknown_flag_suggests_the_right_one() -> None:
    text = error("start aks-dev --no-tag")
    assert "`--no-tag` is not an option of `start`. Did you mean `--no-tags`?" in text


def test_flags_on_a_command_without_options_are_refused() -> None:
    assert "`complete` takes no options" in error("complete aks-dev --force")


@pytest.mark.parametrize(("given", "guess"), [
    ("1.23", "asm-1-23"), ("asm-1.23", "asm-1-23"), ("asm_1_23", "asm-1-23"), ("1-23", "asm-1-23"),
])
def test_a_bad_revision_is_explained_with_a_guess(given: str, guess: str) -> None:
    text = error(f"plan aks-dev --to {given}")
    assert "revisions look like `asm-1-23`" in text and f"Did you mean `{guess}`?" in text


def test_a_revision_with_non_ascii_digits_is_refused() -> None:
    assert "is not a revision" in error("plan aks-dev --to asm-\u0661-\u0662\u0663")


def test_a_flag_without_its_value_is_refused() -> None:
    assert "`--to` needs a value" in error("plan aks-dev --to")
    assert "`--to` needs a value" in error("plan aks-dev --to --no-tags")


def test_repeated_flags_and_extra_words_are_refused() -> None:
    assert "given twice" in error("start aks-dev --to asm-1-23 --to asm-1-24")
    assert "Unexpected `now`" in error("complete aks-dev now")


def test_a_bad_namespace_is_refused() -> None:
    assert "is not a namespace name" in error("sidecars aks-dev --namespace Book_Info")


def test_user_text_echoed_in_errors_cannot_mention_or_link() -> None:
    assert "<!channel>" not in error("<!channel> aks-dev")
    assert "<@U1>" not in error("check <@U1>")
    assert "<b>" not in error("check a<b>c") and "&lt;" in error("check a<b")


def test_random_text_parses_to_a_command_or_a_short_error() -> None:
    rng = random.Random(1234)
    alphabet = string.printable + "\u2014\u2013—<>|@!`*_~“”é中🙂\x00\u200b"
    words = ["start", "plan", "--to", "--no-tags", "-n", "--namespace", "help", "aks-dev", "=",
             "asm-1-23", "<", ">", "|", "--", "-", "—to"]
    for _ in range(3000):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        else:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 8)))
        result = parse(text, CLUSTERS)
        assert isinstance(result, Command | ParseError)
        if isinstance(result, ParseError):
            assert len(result.text) < 2000


def test_huge_text_gets_a_short_error() -> None:
    result = parse("start " + "x" * 100_000, CLUSTERS)
    assert isinstance(result, ParseError) and len(result.text) < 2000


def test_out_of_turn_names_the_phase_and_what_is_possible() -> None:
    text = out_of_turn(Verb.COMPLETE, Phase.ROLLING, cluster="aks-dev")
    assert "`complete` is not possible now" in text
    assert "*Rolling: workloads restarting*" in text
    assert "rollback (`/mesh-upgrade rollback aks-dev` or the card)" in text
    assert "roll (button on the card)" in text


def test_out_of_turn_for_a_busy_or_finished_run() -> None:
    assert "until this step finishes" in out_of_turn(Action.ROLLBACK, Phase.COMPLETING)
    assert "begins a new one" in out_of_turn(Verb.CANCEL, Phase.COMPLETED, cluster="aks-dev")


def test_out_of_turn_for_a_patch_run_offers_only_patch_actions() -> None:
    text = out_of_turn(Verb.ROLLBACK, Phase.PATCH_PLANNED, RunKind.PATCH, "aks-dev")
    assert "restart (button on the card)" in text and "cancel" in text
    assert "rollback (" not in text


def test_text_over_the_limit_is_refused_whole_naming_the_limit() -> None:
    # Cut at 2,000 characters these would have parsed as something else: a run with tags,
    # or a revision one digit short (issue 10, recipe 6).
    padding = " " * (MAX_TEXT - len("start aks-dev --to asm-1-2"))
    for text in ("start aks-dev" + " " * MAX_TEXT + "--no-tags",
                 "start aks-dev --to asm-1-2" + padding + "4"):
        result = parse(text, CLUSTERS)
        assert isinstance(result, ParseError), result
        assert "limit is 2,000" in result.problem and "Nothing was done" in result.problem
    exactly = "status aks-dev" + " " * (MAX_TEXT - len("status aks-dev"))
    assert parse(exactly, CLUSTERS) == Command(Verb.STATUS, "aks-dev")
