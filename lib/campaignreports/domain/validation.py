"""Event validation: declarative tables of rules, one engine that applies them.

- `STRING_RULES`: every string field of Event: required or not, maximum length, charset.
- `MATRIX`: which event types are valid on which channel (derived from the widget catalog,
  the ones its widgets count), and which detail fields each pair requires or allows.
- `CHANNEL_DETAILS`: detail fields that every event of a channel requires.
- `REQUEST_RULES`: the identifiers of query and dashboard requests (tenant, campaign, user,
  tab, ...), which reach NATS keys, ClickHouse parameters and HTTP headers: each is bounded.

A detail field that is neither required nor allowed for the event's channel and type is
refused, so a sender learns at once that, say, a bounce category on a SENT event goes nowhere.
The ingest service refuses an event at the first rule it breaks and reports the field and a
sentence a person understands. Tests iterate over these tables, and `docs/validation.md` is
generated from them (`make docs`) and checked by a test.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain, compress
from typing import Any

from google.protobuf.message import Message

from campaignreports.domain.currencies import CURRENCIES
from campaignreports.domain.events import (
    CHANNEL_KEYS,
    DETAIL_FIELDS,
    EVENT_TYPE_KEYS,
    NANOS,
    SECONDS,
    Fields,
    read_fields,
)
from campaignreports.v1 import event_pb2


@dataclass(frozen=True)
class StringRule:
    """A string field of Event: whether it is required, its maximum length, its charset.

    Identifiers (ids, domains, urls) must be printable without spaces; free text (reasons,
    interaction types, element ids) must be printable (spaces allowed). "Printable" is Python's
    str.isprintable: no control, format or separator characters other than the space.
    A field with a format (`accepts`) is also checked against it, and the problem names
    what was `expected`.
    """

    field: str
    required: bool
    max_length: int
    identifier: bool = True
    accepts: Callable[[str], object] | None = None
    expected: str = ""

    def check(self, value: str) -> str | None:
        """The problem with a non-empty `value`, or None."""
        if len(value) > self.max_length:
            return f"{self.field} is {len(value)} characters long; the limit is {self.max_length}"
        if self.identifier and not (value.isprintable() and " " not in value):
            return f"{self.field} must not contain spaces, control or other non-printable characters"
        if not value.isprintable():
            return f"{self.field} must not contain control or other non-printable characters"
        if self.accepts is not None and not self.accepts(value):
            return f"{self.field} {value!r} is not {self.expected}"
        return None


# Not negative, at most 18 digits before the point and 9 after: exact in Decimal(38, 9).
_DECIMAL = re.compile(r"[0-9]{1,18}(\.[0-9]{1,9})?")


STRING_RULES: tuple[StringRule, ...] = (
    StringRule("event_id", required=True, max_length=128),
    StringRule("tenant_id", required=True, max_length=64),
    StringRule("campaign_id", required=True, max_length=128),
    StringRule("profile_id", required=True, max_length=256),
    StringRule("message_id", required=False, max_length=128),
    StringRule("treatment_id", required=False, max_length=128),
    StringRule("reason", required=False, max_length=256, identifier=False),
    StringRule("recipient_domain", required=False, max_length=253),
    StringRule("url", required=False, max_length=2048),
    StringRule("interaction_type", required=False, max_length=128, identifier=False),
    StringRule("element_id", required=False, max_length=256, identifier=False),
    StringRule(
        "conversion_value",
        required=False,
        max_length=28,
        accepts=_DECIMAL.fullmatch,
        expected=(
            "a decimal number such as 49.90 (not negative; at most 18 digits before the point and 9 after)"
        ),
    ),
    StringRule(
        "currency",
        required=False,
        max_length=3,
        accepts=CURRENCIES.__contains__,
        expected="an ISO 4217 currency code such as EUR, USD or JPY",
    ),
)

_EVENT_RULES = {rule.field: rule for rule in STRING_RULES}

# The string fields of query and dashboard requests, by name wherever they appear in a request
# (`window.range.timezone` included). Ids an event carries keep the event's bound, so whatever
# was ingested can be asked for; the others are bounded well inside every limit they meet (a
# NATS control line of 4 KiB, a ClickHouse query, an HTTP header).
REQUEST_RULES: dict[str, StringRule] = {
    rule.field: rule
    for rule in (
        _EVENT_RULES["tenant_id"],
        _EVENT_RULES["campaign_id"],
        StringRule("user_id", required=False, max_length=256, identifier=False),
        StringRule("widget_id", required=False, max_length=64),
        StringRule("tab", required=False, max_length=32),
        StringRule("locale", required=False, max_length=35),
        StringRule("timezone", required=False, max_length=64),
        StringRule(
            "control_treatment_id", required=False, max_length=_EVENT_RULES["treatment_id"].max_length
        ),
        # Filters (ListRecipients', a report's message) are values an event carries; the page
        # token is ours (base64url of a profile id and a digest).
        *(_EVENT_RULES[name] for name in ("url", "recipient_domain", "reason", "treatment_id", "message_id")),
        StringRule("page_token", required=False, max_length=512),
        _EVENT_RULES["currency"],
        StringRule("sort_by", required=False, max_length=64),
    )
}

REQUIRED_FIELDS: tuple[str, ...] = (
    *(rule.field for rule in STRING_RULES if rule.required),
    "occurred_at",
)

# Fields that describe one kind of event; only valid where MATRIX/CHANNEL_DETAILS say so.


@dataclass(frozen=True)
class Details:
    """Detail fields an event type requires, and those it may carry."""

    requires: tuple[str, ...] = ()
    allows: tuple[str, ...] = ()


_REASON = Details(requires=("reason",))
_BOUNCE = Details(requires=("reason", "bounce_category"))
_OPEN = Details(allows=("is_machine",))
_CLICK = Details(requires=("url",), allows=("is_machine",))
_NONE = Details()
_QUARANTINE = Details(allows=("reason",))
# A conversion may name the link credited with it, and carries its value (or none, for a sign-up).
_CONVERSION = Details(allows=("url", "conversion_value", "currency"))

# Campaign-level types (no channel) are keyed by "".
MATRIX: dict[str, dict[str, Details]] = {
    "": {"profile_entered": _NONE, "converted": _CONVERSION},
    "email": {
        "targeted": _NONE,
        "excluded": _REASON,
        "sent": _NONE,
        "delivered": _NONE,
        "bounced": _BOUNCE,
        "error": _REASON,
        "quarantined": _QUARANTINE,
        "opened": _OPEN,
        "clicked": _CLICK,
        "unsubscribed": _NONE,
        "spam_complaint": _NONE,
        "mirror_page_viewed": _NONE,
        "forwarded": _NONE,
        "converted": _CONVERSION,
    },
    "sms": {
        "targeted": _NONE,
        "excluded": _REASON,
        "sent": _NONE,
        "delivered": _NONE,
        "bounced": _BOUNCE,
        "error": _REASON,
        "quarantined": _QUARANTINE,
        "clicked": _CLICK,
        "converted": _CONVERSION,
    },
    "push": {
        "targeted": _NONE,
        "excluded": _REASON,
        "sent": _NONE,
        "delivered": _NONE,
        "bounced": _BOUNCE,
        "error": _REASON,
        "quarantined": _QUARANTINE,
        "opened": _OPEN,
        # A click in a rich notification; the link is optional (a push may open the app instead).
        "clicked": Details(allows=("url", "is_machine")),
        "action": Details(requires=("interaction_type",)),
        "converted": _CONVERSION,
    },
    "in_app": {
        "impression": _NONE,
        "interaction": Details(requires=("interaction_type",)),
        "converted": _CONVERSION,
    },
    "web": {
        "impression": _NONE,
        "interaction": Details(requires=("element_id",)),
        "converted": _CONVERSION,
    },
    "direct_mail": {
        "targeted": _NONE,
        "excluded": _REASON,
        "sent": _NONE,
        "error": _REASON,
        "converted": _CONVERSION,
    },
}

# Detail fields every event of a channel requires (the breakdowns of its widgets).
CHANNEL_DETAILS: dict[str, tuple[str, ...]] = {
    "email": ("recipient_domain",),
    "push": ("platform",),
}

# Fields set together or not at all (a value means nothing without its currency).
TOGETHER: tuple[tuple[str, str], ...] = (("conversion_value", "currency"),)

# How far in the future an occurred_at may lie (clock skew between engines and us).
MAX_FUTURE = timedelta(minutes=5)
# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
_MIN_TIMESTAMP_SECONDS = -62_135_596_800
_MAX_TIMESTAMP_SECONDS = 253_402_300_799

_ENUM_DETAILS = {
    "bounce_category": event_pb2.BounceCategory,
    "platform": event_pb2.Platform,
}


def type_name(type_key: str) -> str:
    return f"EVENT_TYPE_{type_key.upper()}"


def channel_name(channel_key: str) -> str:
    return f"CHANNEL_{channel_key.upper()}" if channel_key else "CHANNEL_UNSPECIFIED"


@dataclass(frozen=True)
class _Pair:
    """The compiled rule of one (channel, type) pair."""

    required: tuple[str, ...]
    forbidden: tuple[str, ...]
    description: str


def _compile() -> dict[tuple[int, int], _Pair]:
    channel_numbers = {key: number for number, key in CHANNEL_KEYS.items()} | {"": 0}
    type_numbers = {key: number for number, key in EVENT_TYPE_KEYS.items()}
    compiled = {}
    for channel_key, types in MATRIX.items():
        for type_key, details in types.items():
            required = (*CHANNEL_DETAILS.get(channel_key, ()), *details.requires)
            allowed = {*required, *details.allows}
            compiled[(channel_numbers[channel_key], type_numbers[type_key])] = _Pair(
                required=required,
                forbidden=tuple(f for f in DETAIL_FIELDS if f not in allowed),
                description=f"{type_name(type_key)} on {channel_name(channel_key)}",
            )
    return compiled


_PAIRS = _compile()


def valid_channels(type_key: str) -> list[str]:
    return [channel_name(channel) for channel, types in MATRIX.items() if type_key in types]


@dataclass(frozen=True)
class Violation:
    field: str
    description: str


def request_violation(message: Message, prefix: str = "") -> Violation | None:
    """The first field of a query or dashboard request that breaks `REQUEST_RULES`, or None.

    Singular message fields are searched too (`window.range.timezone`); repeated ones are not:
    an IngestRequest's events are judged one by one, so that one bad event spoils nothing else.
    """
    for descriptor, value in message.ListFields():  # the fields set; lists are neither str nor Message
        path = f"{prefix}{descriptor.name}"
        if isinstance(value, Message):
            found = request_violation(value, f"{path}.")
            if found is not None:
                return found
        elif isinstance(value, str) and (rule := REQUEST_RULES.get(descriptor.name)) is not None:
            problem = rule.check(value)
            if problem is not None:
                return Violation(path, problem.replace(rule.field, path, 1))
    return None


def is_valid_timestamp(seconds: int, nanos: int) -> bool:
    """Whether a google.protobuf.Timestamp lies in its documented range (years 1 to 9999)."""
    return _MIN_TIMESTAMP_SECONDS <= seconds <= _MAX_TIMESTAMP_SECONDS and 0 <= nanos < 1_000_000_000


@dataclass(frozen=True)
class TimeBounds:
    """The accepted occurred_at range, computed once per request."""

    earliest: float
    latest: float
    retention_days: int

    @classmethod
    def at(cls, now: datetime, retention: timedelta) -> TimeBounds:
        return cls((now - retention).timestamp(), (now + MAX_FUTURE).timestamp(), retention.days)


def _check_timestamp(event: event_pb2.Event, bounds: TimeBounds) -> Violation | None:
    if not event.HasField("occurred_at"):
        return Violation("occurred_at", "occurred_at is required")
    seconds, nanos = event.occurred_at.seconds, event.occurred_at.nanos
    if not is_valid_timestamp(seconds, nanos):
        return Violation("occurred_at", "occurred_at is not a valid timestamp")
    when = seconds + nanos / 1e9
    if when > bounds.latest:
        return Violation("occurred_at", "occurred_at is more than 5 minutes in the future")
    if when < bounds.earliest:
        return Violation(
            "occurred_at", f"occurred_at is older than the {bounds.retention_days}-day retention"
        )
    return None


def _check_pair(event: event_pb2.Event) -> Violation | None:
    pair = _PAIRS.get((event.channel, event.type))
    if pair is None:
        if event.type not in EVENT_TYPE_KEYS:
            return Violation("type", f"type {event.type} is not a known EventType")
        if event.channel != 0 and event.channel not in CHANNEL_KEYS:
            return Violation("channel", f"channel {event.channel} is not a known Channel")
        type_key = EVENT_TYPE_KEYS[event.type]
        channel_key = CHANNEL_KEYS.get(event.channel, "")
        return Violation(
            "type",
            f"type {type_name(type_key)} is not valid on {channel_name(channel_key)}; "
            f"it is valid on {', '.join(valid_channels(type_key))}",
        )
    for field in pair.required:
        value = getattr(event, field)
        if not value:
            return Violation(field, f"{field} is required for {pair.description}")
        enum = _ENUM_DETAILS.get(field)
        if enum is not None and value not in enum.values():
            return Violation(field, f"{field} {value} is not a known {enum.DESCRIPTOR.name}")
    for field in pair.forbidden:
        if getattr(event, field):
            return Violation(field, f"{field} does not apply to {pair.description}; leave it unset")
    for first, second in TOGETHER:
        if bool(getattr(event, first)) != bool(getattr(event, second)):
            missing = second if getattr(event, first) else first
            return Violation(missing, f"{first} and {second} are set together: {missing} is missing")
    return None


def validate(event: event_pb2.Event, now: datetime, retention: timedelta) -> Violation | None:
    """The first rule `event` breaks, or None when it is valid."""
    return _validate(event, TimeBounds.at(now, retention))


def _validate(event: event_pb2.Event, bounds: TimeBounds) -> Violation | None:
    for rule in STRING_RULES:
        value = getattr(event, rule.field)
        if not value:
            if rule.required:
                return Violation(rule.field, f"{rule.field} is required")
            continue
        problem = rule.check(value)
        if problem:
            return Violation(rule.field, problem)
    return _check_timestamp(event, bounds) or _check_pair(event)


def _getter(positions: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """itemgetter that always returns a tuple (itemgetter of one position does not)."""
    if len(positions) == 1:
        position = positions[0]
        return lambda values: (values[position],)
    if not positions:
        return lambda values: ()
    return operator.itemgetter(*positions)


class _FastPath:
    """The same rules compiled for speed: True only for events the full checks would accept.

    Most events are valid, so check_batch tries this first and runs the descriptive checks
    (which say what is wrong) only when it fails. A property test keeps the two in agreement.
    """

    def __init__(self) -> None:
        string_fields = tuple(rule.field for rule in STRING_RULES)
        other_fields = tuple(f for f in DETAIL_FIELDS if f not in string_fields)
        fields = (*string_fields, *other_fields, "channel", "type")
        self.fields = fields
        self.read = operator.attrgetter(*fields)
        self.string_count = len(string_fields)
        self.shortest_limit = min(rule.max_length for rule in STRING_RULES)
        self.max_lengths = tuple(rule.max_length for rule in STRING_RULES)
        index = {field: i for i, field in enumerate(string_fields)}
        self.required = _getter([index[r.field] for r in STRING_RULES if r.required])
        self.identifiers = _getter([index[r.field] for r in STRING_RULES if r.identifier])
        self.texts = _getter([index[r.field] for r in STRING_RULES if not r.identifier])
        self.formats = [(index[r.field], r.accepts) for r in STRING_RULES if r.accepts is not None]
        self.together = [(fields.index(first), fields.index(second)) for first, second in TOGETHER]
        self.bounce_category = fields.index("bounce_category")
        self.platform = fields.index("platform")
        self.known_bounce_categories = frozenset(event_pb2.BounceCategory.values())
        self.known_platforms = frozenset(event_pb2.Platform.values())
        # Per detail field: its column, and the (channel, type) pairs requiring / forbidding it.
        self.detail_rules = [
            (
                fields.index(detail),
                frozenset(key for key, pair in _PAIRS.items() if detail in pair.required),
                frozenset(key for key, pair in _PAIRS.items() if detail in pair.forbidden),
            )
            for detail in DETAIL_FIELDS
        ]
        self.pairs = {
            key: (
                _getter([fields.index(f) for f in pair.required]),
                _getter([fields.index(f) for f in pair.forbidden]),
            )
            for key, pair in _PAIRS.items()
        }

    def accepts(self, event: event_pb2.Event, bounds: TimeBounds) -> bool:
        values = self.read(event)
        strings = values[: self.string_count]
        if not all(self.required(strings)):
            return False
        if max(map(len, strings)) > self.shortest_limit and not all(
            map(operator.le, map(len, strings), self.max_lengths)
        ):
            return False
        identifiers = "".join(self.identifiers(strings))
        if " " in identifiers or not identifiers.isprintable():
            return False
        if not "".join(self.texts(strings)).isprintable():
            return False
        if not all(not strings[at] or accepts(strings[at]) for at, accepts in self.formats):
            return False
        if any(bool(values[first]) != bool(values[second]) for first, second in self.together):
            return False
        if (
            values[self.bounce_category] not in self.known_bounce_categories
            or values[self.platform] not in self.known_platforms
        ):
            return False
        pair = self.pairs.get(values[-2:])
        if pair is None or not all(pair[0](values)) or any(pair[1](values)):
            return False
        stamp = event.occurred_at
        nanos = stamp.nanos
        return bounds.earliest <= stamp.seconds + nanos / 1e9 <= bounds.latest and 0 <= nanos < 1_000_000_000

    def accepts_all(self, fields: Fields, bounds: TimeBounds) -> bool:
        """True only if every event of the columns `read_fields` read is valid; checks whole
        columns with C-level operations."""
        if not fields[SECONDS]:
            return True
        columns = [fields[name] for name in self.fields]
        strings = columns[: self.string_count]
        if not all(all(column) for column in self.required(strings)):
            return False
        if not all(
            max(map(len, column)) <= limit for column, limit in zip(strings, self.max_lengths, strict=True)
        ):
            return False
        identifiers = "".join(chain.from_iterable(self.identifiers(strings)))
        if " " in identifiers or not identifiers.isprintable():
            return False
        if not "".join(chain.from_iterable(self.texts(strings))).isprintable():
            return False
        if not all(all(map(accepts, filter(None, strings[at]))) for at, accepts in self.formats):
            return False
        if any(
            any(map(operator.xor, map(bool, columns[first]), map(bool, columns[second])))
            for first, second in self.together
        ):
            return False
        if not (
            set(columns[self.bounce_category]) <= self.known_bounce_categories
            and set(columns[self.platform]) <= self.known_platforms
        ):
            return False
        keys = list(zip(columns[-2], columns[-1], strict=True))
        key_set = set(keys)
        if not key_set <= self.pairs.keys():
            return False
        setting: Iterable[tuple[Any, Any]]
        lacking: Iterable[tuple[Any, Any]]
        for position, requiring, forbidding in self.detail_rules:
            column = columns[position]
            if not any(column):
                setting, lacking = (), key_set
            elif all(column):
                setting, lacking = key_set, ()
            else:
                setting, lacking = compress(keys, column), compress(keys, map(operator.not_, column))
            if not (forbidding.isdisjoint(setting) and requiring.isdisjoint(lacking)):
                return False
        seconds, nanos = fields[SECONDS], fields[NANOS]
        return bool(
            min(seconds) >= bounds.earliest
            and max(seconds) + 1 <= bounds.latest
            and min(nanos) >= 0
            and max(nanos) < 1_000_000_000
        )


_FAST = _FastPath()


@dataclass(frozen=True)
class Rejection:
    index: int
    event_id: str
    violation: Violation


@dataclass(frozen=True)
class CheckedBatch:
    """A request's events split into the valid ones (with their fields, read once, which the
    stream batch is built from) and the rejections (by request index)."""

    valid: list[event_pb2.Event]
    fields: Fields
    rejections: list[Rejection]


def check_batch(events: Sequence[event_pb2.Event], now: datetime, retention: timedelta) -> CheckedBatch:
    bounds = TimeBounds.at(now, retention)
    fields = read_fields(events)
    if _FAST.accepts_all(fields, bounds):
        return CheckedBatch(list(events), fields, [])
    valid: list[event_pb2.Event] = []
    rejected: list[Rejection] = []
    accepts = _FAST.accepts
    for index, event in enumerate(events):
        if accepts(event, bounds):
            valid.append(event)
            continue
        violation = _validate(event, bounds)
        if violation is None:
            valid.append(event)
        else:
            rejected.append(Rejection(index, event.event_id[:128], violation))
    return CheckedBatch(valid, read_fields(valid), rejected)
