"""`/mesh-upgrade` text into a typed Command, or a ParseError that says how to type it.

Whatever Slack sends (empty text, emoji, `<!channel>`, an em dash that a Slack client made of
`--`, 40 kB of junk) gives back a Command or a ParseError: the parser never raises. Errors echo
user text only escaped and shortened, so a reply can never ping a channel.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from bot.slack.buttons import phase_label
from bot.upgrade.phases import Action, Phase, RunKind, allowed_actions, is_terminal
from bot.upgrade.versions import is_revision_name

MAX_TEXT = 2_000  # nothing legitimate is longer: longer text is refused, never cut and parsed
_ECHO = 60
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_REVISION_LIKE = re.compile(r"(?:asm)?[-_.]?([0-9]{1,4})[-_.]([0-9]{1,4})(?:[-_.][0-9]+)*")
# Slack's auto-formatting: a name with dots arrives as a link (`<http://a.b|a.b>`), and the
# macOS and iOS clients' smart punctuation may turn "--" into an em or en dash.
_LINK = re.compile(r"<[^<>|]*\|([^<>]*)>|<([^<>|]*)>")
_DASHES = str.maketrans({"\u2014": "--", "\u2013": "--", "\u2212": "-", "\u00a0": " "})


class Verb(StrEnum):
    HELP = "help"
    CLUSTERS = "clusters"
    STATUS = "status"
    VERSIONS = "versions"
    PLAN = "plan"
    START = "start"
    CHECK = "check"
    SIDECARS = "sidecars"
    TAGS = "tags"
    COMPLETE = "complete"
    ROLLBACK = "rollback"
    CANCEL = "cancel"
    PATCH = "patch"
    HISTORY = "history"
    OVERRIDE = "override"
    ROLLBACK_NOW = "rollback-now"
    FLEET = "fleet"


@dataclass(frozen=True)
class Command:
    """A parsed command. `cluster` is None only for help, clusters and an all-cluster status;
    `topic` is the command `help` was asked about; `use_tags` is False after `--no-tags`."""

    verb: Verb
    cluster: str | None = None
    to_rev: str | None = None
    use_tags: bool = True
    namespace: str | None = None
    topic: Verb | None = None
    reason: str | None = None  # `override`, `rollback-now`: every word after the cluster
    fleet: str | None = None  # `fleet plan FLEET`
    fleet_action: str | None = None  # `plan`, `start`, `status`, `pause`, `resume`, `cancel`


@dataclass(frozen=True)
class ParseError:
    """What was wrong (`problem`) and how to type it (`usage`), both Slack mrkdwn."""

    problem: str
    usage: str

    @property
    def text(self) -> str:
        return f":warning: {self.problem}\nUsage: {self.usage}"


@dataclass(frozen=True)
class _Spec:
    cluster: str  # "required", "optional" or "none"
    flags: tuple[str, ...]
    summary: str


_SPECS: MappingProxyType[Verb, _Spec] = MappingProxyType({
    Verb.HELP: _Spec("none", (), "this help (or `help <command>`)"),
    Verb.CLUSTERS: _Spec("none", (), "the clusters this bot manages"),
    Verb.STATUS: _Spec("optional", (), "the active run of one cluster, or of all"),
    Verb.VERSIONS: _Spec("required", (), "installed revisions, upgrades offered, proxy versions"),
    Verb.PLAN: _Spec("required", ("--to",), "what an upgrade would do (a dry run)"),
    Verb.START: _Spec("required", ("--to", "--no-tags"), "plan an upgrade and ask to start it"),
    Verb.CHECK: _Spec("required", (), "health, sidecars and control planes now"),
    Verb.SIDECARS: _Spec("required", ("--namespace",), "sidecar revision of every workload"),
    Verb.TAGS: _Spec("required", (), "revision tags and the namespaces using them"),
    Verb.COMPLETE: _Spec("required", (), "ask to complete (removes the old control plane)"),
    Verb.ROLLBACK: _Spec("required", (), "ask to roll back to the old revision"),
    Verb.CANCEL: _Spec("required", (), "cancel a run that has not started or has failed"),
    Verb.PATCH: _Spec("required", (), "find outdated sidecars and offer to restart them"),
    Verb.HISTORY: _Spec("required", (), "past runs and who did what"),
    Verb.OVERRIDE: _Spec("required", (), "go on past a traffic gate that holds the run, "
                                         "with a reason (audited)"),
    Verb.ROLLBACK_NOW: _Spec("required", (), "roll back outside the change window, with a "
                                             "reason (audited)"),
    Verb.FLEET: _Spec("none", ("--to",), "a fleet upgraded ring by ring: its plan, a run "
                                          "with promotion approvals, its status, pause, "
                                          "resume or cancel"),
})
_WITH_REASON = frozenset({Verb.OVERRIDE, Verb.ROLLBACK_NOW})
FLEET_SUBCOMMANDS = ("plan", "start", "status", "pause", "resume", "cancel")
_FLEET_TARGETED = frozenset({"plan", "start"})  # take --to
_FLEET_REASONED = frozenset({"pause", "cancel"})  # may say why after the fleet's name
_VERBS = frozenset(v.value for v in Verb)
_FLAG_ARGS = MappingProxyType({"--to": "asm-1-NN", "--namespace": "NS", "--no-tags": ""})
_ALIASES = MappingProxyType({"-n": "--namespace", "--ns": "--namespace", "--revision": "--to"})


def usage(verb: Verb) -> str:
    """`/mesh-upgrade start &lt;cluster&gt; [--to asm-1-NN] [--no-tags]` (Slack mrkdwn)."""
    spec = _SPECS[verb]
    parts = ["/mesh-upgrade", verb.value]
    # Slack reads "<...>" as a link even in code spans, so the placeholder is escaped.
    parts += {"required": ["&lt;cluster&gt;"], "optional": ["[cluster]"]}.get(spec.cluster, [])
    parts += [f"[{f} {_FLAG_ARGS[f]}]".replace(" ]", "]") for f in spec.flags]
    if verb is Verb.HELP:
        parts.append("[command]")
    if verb in _WITH_REASON:
        parts.append("&lt;reason&gt;")
    if verb is Verb.FLEET:
        parts[2:2] = ["plan|start|status|pause|resume|cancel", "&lt;fleet&gt;"]
    return f"`{' '.join(parts)}`"


def help_lines() -> tuple[tuple[str, str], ...]:
    """(usage, what it does) for every command, in the order people need them."""
    return tuple((usage(v), s.summary) for v, s in _SPECS.items())


def parse(text: str, known_clusters: Sequence[str]) -> Command | ParseError:
    """Parse what followed `/mesh-upgrade`; empty text asks for help. Text over MAX_TEXT
    characters is refused whole: a cut could drop a flag (`--no-tags`) or shorten a name."""
    text = text if isinstance(text, str) else ""
    if len(text) > MAX_TEXT:
        return ParseError(f"That command is {len(text):,} characters long; the limit is "
                          f"{MAX_TEXT:,}. Nothing was done.", "`/mesh-upgrade help`")
    words = _words(text)
    if not words:
        return Command(Verb.HELP)
    verb = _verb(words[0])
    if isinstance(verb, ParseError):
        return verb
    return _arguments(verb, words[1:], tuple(known_clusters))


def _words(text: str) -> list[str]:
    text = _LINK.sub(lambda m: m[1] if m[1] is not None else m[2], text)
    return text.translate(_DASHES).replace("\u201c", "").replace("\u201d", "").split()


def _verb(word: str) -> Verb | ParseError:
    lowered = word.lower()
    if lowered in _VERBS:
        return Verb(lowered)
    close = difflib.get_close_matches(lowered, [v.value for v in Verb], n=1, cutoff=0.6)
    if close:
        guess = Verb(close[0])
        return ParseError(f"Unknown command `{_echo(word)}`. Did you mean `{guess}`?",
                          usage(guess))
    names = ", ".join(f"`{v}`" for v in Verb)
    return ParseError(f"Unknown command `{_echo(word)}`. Commands: {names}.", usage(Verb.HELP))


def _arguments(verb: Verb, words: list[str], known: tuple[str, ...]) -> Command | ParseError:
    if verb in _WITH_REASON:  # free text after the cluster: no flags to parse in a reason
        return _with_reason(verb, words, known)
    if verb is Verb.FLEET:
        return _fleet(words)
    flags, positional = _split_flags(verb, words)
    if isinstance(flags, ParseError):
        return flags
    if verb is Verb.HELP:
        return _help_topic(positional)
    cluster = _cluster(verb, positional, known)
    if isinstance(cluster, ParseError):
        return cluster
    to_rev = _revision(verb, flags.get("--to"))
    if isinstance(to_rev, ParseError):
        return to_rev
    namespace = _namespace(verb, flags.get("--namespace"))
    if isinstance(namespace, ParseError):
        return namespace
    return Command(verb, cluster, to_rev, "--no-tags" not in flags, namespace)


def _with_reason(verb: Verb, words: list[str], known: tuple[str, ...]) -> Command | ParseError:
    cluster = _cluster(verb, words[:1], known)
    if isinstance(cluster, ParseError):
        return cluster
    if len(words) < 2:
        why = ("why it is safe to go on past the traffic gate" if verb is Verb.OVERRIDE
               else "why the rollback cannot wait for the change window")
        return ParseError(f"`{verb}` needs a reason after the cluster: {why}.", usage(verb))
    return Command(verb, cluster, reason=" ".join(words[1:]))


def _fleet(words: list[str]) -> Command | ParseError:
    flags, positional = _split_flags(Verb.FLEET, words)
    if isinstance(flags, ParseError):
        return flags
    sub = positional[0].lower() if positional else ""
    if sub not in FLEET_SUBCOMMANDS:
        close = difflib.get_close_matches(sub, FLEET_SUBCOMMANDS, n=1, cutoff=0.6)
        guess = f" Did you mean `fleet {close[0]}`?" if close else ""
        return ParseError(f"`fleet {_echo(sub)}` is not a fleet command.{guess} Fleet "
                          f"commands: {', '.join(f'`{c}`' for c in FLEET_SUBCOMMANDS)}."
                          if sub else "`fleet` needs a command (`plan`, `start`, `status`, "
                          "`pause`, `resume` or `cancel`) and a fleet's name.",
                          usage(Verb.FLEET))
    if len(positional) < 2:
        return ParseError(f"`fleet {sub}` needs a fleet's name.", usage(Verb.FLEET))
    if len(positional) > 2 and sub not in _FLEET_REASONED:
        return ParseError(f"Unexpected `{_echo(positional[2])}` after the fleet's name.",
                          usage(Verb.FLEET))
    if "--to" in flags and sub not in _FLEET_TARGETED:
        return ParseError(f"`--to` goes with `fleet plan` and `fleet start`, not `fleet {sub}`.",
                          usage(Verb.FLEET))
    to_rev = _revision(Verb.FLEET, flags.get("--to"))
    if isinstance(to_rev, ParseError):
        return to_rev
    reason = " ".join(positional[2:]) or None
    return Command(Verb.FLEET, to_rev=to_rev, fleet=positional[1], fleet_action=sub,
                   reason=reason)


def _split_flags(verb: Verb, words: list[str]) -> tuple[dict[str, str] | ParseError, list[str]]:
    flags: dict[str, str] = {}
    positional: list[str] = []
    rest = iter(words)
    for word in rest:
        if not word.startswith("-") or len(word) == 1:
            positional.append(word)
            continue
        name, eq, value = word.partition("=")
        name = _ALIASES.get(name.lower(), name.lower())
        problem = _flag_problem(verb, name, flags)
        if problem is not None:
            return problem, positional
        if _FLAG_ARGS[name]:
            value = value if eq else next(rest, "")
            if not value or value.startswith("--"):
                return ParseError(f"`{name}` needs a value, e.g. `{name} {_FLAG_ARGS[name]}`.",
                                  usage(verb)), positional
        elif eq:
            return ParseError(f"`{name}` takes no value.", usage(verb)), positional
        flags[name] = value
    return flags, positional


def _flag_problem(verb: Verb, name: str, seen: dict[str, str]) -> ParseError | None:
    allowed = _SPECS[verb].flags
    if name in seen:
        return ParseError(f"`{name}` is given twice.", usage(verb))
    if name in allowed:
        return None
    if not allowed:
        return ParseError(f"`{verb}` takes no options (got `{_echo(name)}`).", usage(verb))
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.5)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return ParseError(f"`{_echo(name)}` is not an option of `{verb}`.{hint}", usage(verb))


def _help_topic(positional: list[str]) -> Command | ParseError:
    if not positional:
        return Command(Verb.HELP)
    topic = _verb(positional[0])
    return topic if isinstance(topic, ParseError) else Command(Verb.HELP, topic=topic)


def _cluster(verb: Verb, positional: list[str], known: tuple[str, ...]) -> str | ParseError | None:
    need = _SPECS[verb].cluster
    if len(positional) > (0 if need == "none" else 1):
        extra = positional[0] if need == "none" else positional[1]
        return ParseError(f"Unexpected `{_echo(extra)}` after `{verb}`.", usage(verb))
    if not positional:
        if need == "required":
            return ParseError(f"`{verb}` needs a cluster. {_known(known)}", usage(verb))
        return None
    return _known_cluster(verb, positional[0], known)


def _known_cluster(verb: Verb, name: str, known: tuple[str, ...]) -> str | ParseError:
    if name in known:
        return name
    folded = [k for k in known if k.casefold() == name.casefold()]
    if len(folded) == 1:
        return folded[0]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    guess = f" Did you mean `{close[0]}`?" if close else ""
    return ParseError(f"Unknown cluster `{_echo(name)}`.{guess} {_known(known)}", usage(verb))


def _known(known: tuple[str, ...], most: int = 20) -> str:
    if not known:
        return "No clusters are configured."
    shown = ", ".join(f"`{_echo(k)}`" for k in known[:most])
    more = f" and {len(known) - most} more (`/mesh-upgrade clusters`)" if len(known) > most else ""
    return f"Known clusters: {shown}{more}."


def _revision(verb: Verb, value: str | None) -> str | ParseError | None:
    if value is None:
        return None
    lowered = value.lower()
    if is_revision_name(lowered):
        return lowered
    like = _REVISION_LIKE.fullmatch(lowered)
    guess = f" Did you mean `asm-{int(like[1])}-{int(like[2])}`?" if like else ""
    return ParseError(f"`{_echo(value)}` is not a revision: revisions look like `asm-1-23`."
                      f"{guess}", usage(verb))


def _namespace(verb: Verb, value: str | None) -> str | ParseError | None:
    if value is None or _NAMESPACE.fullmatch(value):
        return value
    return ParseError(f"`{_echo(value)}` is not a namespace name (lowercase letters, digits "
                      "and '-', at most 63).", usage(verb))


def _echo(text: str) -> str:
    """User text made safe to show: no mentions, links or code-span breaks; short."""
    short = text if len(text) <= _ECHO else text[: _ECHO - 1] + "…"
    return short.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


# --- commands out of turn -----------------------------------------------------------------

_VERB_FOR_ACTION = MappingProxyType({
    Action.COMPLETE: Verb.COMPLETE, Action.ROLLBACK: Verb.ROLLBACK, Action.CANCEL: Verb.CANCEL,
})


def out_of_turn(asked: Verb | Action, phase: Phase, kind: RunKind = RunKind.MINOR,
                cluster: str = "<cluster>", paused: bool = False) -> str:
    """Why `asked` cannot happen now, the phase the run is in, and what is possible now."""
    name = asked.value
    head = f":no_entry: `{name}` is not possible now: the run on `{_echo(cluster)}` is " \
           f"*{phase_label(phase)}*."
    if is_terminal(phase):
        return f"{head} That run is over; `/mesh-upgrade start {_echo(cluster)}` begins a new one."
    possible = sorted(allowed_actions(phase, kind, paused), key=list(Action).index)
    if not possible:
        return f"{head} Nothing can be asked until this step finishes; the card shows progress."
    return f"{head} Possible now: {', '.join(_how(a, cluster) for a in possible)}."


def _how(action: Action, cluster: str) -> str:
    verb = _VERB_FOR_ACTION.get(action)
    if verb is None:
        return f"{action.value} (button on the card)"
    return f"{action.value} (`/mesh-upgrade {verb} {_echo(cluster)}` or the card)"
