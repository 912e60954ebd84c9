"""A deterministic traffic generator: realistic campaigns on every channel.

For each profile of a campaign it plays a funnel (the proportions of docs and seeds, roughly):
PROFILE_ENTERED, then per channel the profile is reached on:

- email: targeted -> ~2% excluded -> sent -> ~97% delivered, else a hard/soft/ignored bounce
  (hard bounces sometimes quarantined) or an error -> ~30% open (repeats, ~10% by machines)
  -> ~5% click one of a few dozen URLs (a fifth of them then buy, for 5 to 250 EUR) ->
  unsubscribes, complaints, mirror pages, forwards;
- sms: targeted, excluded, sent, delivered, bounced, error, clicked;
- push: the same funnel with a platform (ios/android/web), opens, actions and clicks (some
  followed by a sign-up: a conversion without a value);
- in-app and web: impressions and interactions (types, page elements);
- direct mail: targeted, excluded, sent, errors.

Every profile is in one of two treatments. Times are spread over `span` before `now` (and, for
`history_share` of the profiles, over the `history` before that: the last weeks), in funnel
order per profile. The same seed, profile count and `now` give the same events, ids
included. `python -m campaignreports.demo.traffic` (`make demo`) sends a campaign to the
running stack.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import grpc

from campaignreports.v1 import event_pb2, ingest_service_pb2, ingest_service_pb2_grpc

# Short names: TYPE.OPENED is EVENT_TYPE_OPENED; EMAIL is CHANNEL_EMAIL.
TYPE = SimpleNamespace(
    **{name.removeprefix("EVENT_TYPE_"): number for name, number in event_pb2.EventType.items()}
)
# Campaign-level events (a profile entering) carry no channel.
CAMPAIGN = event_pb2.CHANNEL_UNSPECIFIED
EMAIL, SMS, PUSH = event_pb2.CHANNEL_EMAIL, event_pb2.CHANNEL_SMS, event_pb2.CHANNEL_PUSH
IN_APP, WEB, DIRECT_MAIL = event_pb2.CHANNEL_IN_APP, event_pb2.CHANNEL_WEB, event_pb2.CHANNEL_DIRECT_MAIL
HARD = event_pb2.BOUNCE_CATEGORY_HARD

DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "orange.fr", "web.de", "example.org")
URLS = tuple(f"https://shop.example.com/p/{i}" for i in range(36))
BOUNCE_REASONS = {
    HARD: ("unknown_user", "invalid_domain", "account_disabled"),
    event_pb2.BOUNCE_CATEGORY_SOFT: ("mailbox_full", "refused"),
    event_pb2.BOUNCE_CATEGORY_IGNORED: ("out_of_office", "postmaster"),
}
ERROR_REASONS = ("unreachable", "timeout", "quarantined_address")
SMS_ERROR_REASONS = ("absent_subscriber", "timeout", "carrier_blocked")
EXCLUSION_REASONS = ("duplicate", "blocklisted", "missing_address")
PLATFORMS = (event_pb2.PLATFORM_IOS, event_pb2.PLATFORM_ANDROID, event_pb2.PLATFORM_WEB)
INTERACTIONS = ("click", "dismiss", "button_1", "button_2")
ELEMENTS = ("hero-banner", "signup-form", "footer-link", "carousel")
TREATMENTS = ("treatment-a", "treatment-b")


@dataclass(frozen=True)
class Campaign:
    tenant_id: str
    campaign_id: str
    profiles: int
    seed: int
    now: datetime
    span: timedelta = timedelta(hours=23)
    # Older history: this share of the profiles starts in the `history` before `span`.
    history: timedelta = timedelta(0)
    history_share: float = 0.5


class _Funnel:
    """Builds the events of one profile, in time order."""

    def __init__(self, campaign: Campaign, rng: random.Random, profile: int) -> None:
        self.campaign = campaign
        self.rng = rng
        self.profile_id = f"profile-{profile}"
        self.treatment = TREATMENTS[profile % 2]
        # Each channel's message goes out in two waves (a recurring send's runs), a profile in one.
        self.wave = 1 + (profile // 2) % 2
        start = campaign.now - campaign.span * rng.random()
        if campaign.history and rng.random() < campaign.history_share:
            start = campaign.now - campaign.span - campaign.history * rng.random()
        self.clock = start
        self.events: list[event_pb2.Event] = []

    def emit(self, channel: event_pb2.Channel, event_type: event_pb2.EventType, **details: Any) -> None:
        """One event, a few seconds to minutes after the previous one (never after `now`)."""
        self.clock = min(self.clock + timedelta(seconds=self.rng.expovariate(1 / 90)), self.campaign.now)
        event = event_pb2.Event(
            event_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            tenant_id=self.campaign.tenant_id,
            campaign_id=self.campaign.campaign_id,
            message_id=self.message_id(channel),
            channel=channel,
            type=event_type,
            profile_id=self.profile_id,
            treatment_id=self.treatment if channel else "",
            **details,
        )
        event.occurred_at.FromDatetime(self.clock)
        self.events.append(event)

    def message_id(self, channel: event_pb2.Channel) -> str:
        """The channel's message in the profile's wave (campaign-level events have none)."""
        if not channel:
            return ""
        name = event_pb2.Channel.Name(channel).removeprefix("CHANNEL_").lower()
        return f"{self.campaign.campaign_id}-{name}-wave-{self.wave}"

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def email(self) -> None:
        domain = {"recipient_domain": self.rng.choice(DOMAINS)}
        self.emit(EMAIL, TYPE.TARGETED, **domain)
        if self.chance(0.02):
            self.emit(EMAIL, TYPE.EXCLUDED, reason=self.rng.choice(EXCLUSION_REASONS), **domain)
            return
        if self.chance(0.01):
            self.emit(EMAIL, TYPE.ERROR, reason=self.rng.choice(ERROR_REASONS), **domain)
            return
        self.emit(EMAIL, TYPE.SENT, **domain)
        if not self.chance(0.97):
            category = self.rng.choice(tuple(BOUNCE_REASONS))
            reason = self.rng.choice(BOUNCE_REASONS[category])
            self.emit(EMAIL, TYPE.BOUNCED, reason=reason, bounce_category=category, **domain)
            if category == HARD and self.chance(0.5):
                self.emit(EMAIL, TYPE.QUARANTINED, reason=reason, **domain)
            return
        self.emit(EMAIL, TYPE.DELIVERED, **domain)
        if self.chance(0.08):  # privacy proxies open (almost) everything
            self.emit(EMAIL, TYPE.OPENED, is_machine=True, **domain)
        if not self.chance(0.30 if self.treatment == TREATMENTS[0] else 0.34):
            return
        for _ in range(1 + int(self.rng.expovariate(1.5))):
            self.emit(EMAIL, TYPE.OPENED, **domain)
        if self.chance(0.03):
            self.emit(EMAIL, TYPE.MIRROR_PAGE_VIEWED, **domain)
        if self.chance(0.01):
            self.emit(EMAIL, TYPE.FORWARDED, **domain)
        if self.chance(0.17):  # about 5% of the delivered
            url = URLS[min(int(self.rng.expovariate(0.15)), len(URLS) - 1)]
            for _ in range(1 + int(self.rng.expovariate(2.0))):
                self.emit(EMAIL, TYPE.CLICKED, url=url, **domain)
            if self.chance(0.1):
                self.emit(EMAIL, TYPE.CLICKED, url=url, is_machine=True, **domain)
            if self.chance(0.2):  # a purchase, credited to the link
                value = f"{self.rng.randint(500, 25_000) / 100:.2f}"
                self.emit(EMAIL, TYPE.CONVERTED, url=url, conversion_value=value, currency="EUR", **domain)
        if self.chance(0.015):
            self.emit(EMAIL, TYPE.UNSUBSCRIBED, **domain)
        if self.chance(0.003):
            self.emit(EMAIL, TYPE.SPAM_COMPLAINT, **domain)

    def sms(self) -> None:
        self.emit(SMS, TYPE.TARGETED)
        if self.chance(0.03):
            self.emit(SMS, TYPE.EXCLUDED, reason=self.rng.choice(EXCLUSION_REASONS))
            return
        self.emit(SMS, TYPE.SENT)
        if self.chance(0.02):
            self.emit(SMS, TYPE.ERROR, reason=self.rng.choice(SMS_ERROR_REASONS))
        elif self.chance(0.03):
            self.emit(SMS, TYPE.BOUNCED, reason="invalid_number", bounce_category=HARD)
            if self.chance(0.5):
                self.emit(SMS, TYPE.QUARANTINED, reason="invalid_number")
        else:
            self.emit(SMS, TYPE.DELIVERED)
            if self.chance(0.06):
                self.emit(SMS, TYPE.CLICKED, url=self.rng.choice(URLS[:5]))

    def push(self) -> None:
        platform = {"platform": self.rng.choice(PLATFORMS)}
        self.emit(PUSH, TYPE.TARGETED, **platform)
        if self.chance(0.02):
            self.emit(PUSH, TYPE.EXCLUDED, reason="no_device_token", **platform)
            return
        self.emit(PUSH, TYPE.SENT, **platform)
        if self.chance(0.02):
            self.emit(PUSH, TYPE.ERROR, reason=self.rng.choice(ERROR_REASONS), **platform)
            return
        if self.chance(0.02):
            self.emit(PUSH, TYPE.BOUNCED, reason="token_expired", bounce_category=HARD, **platform)
            if self.chance(0.5):
                self.emit(PUSH, TYPE.QUARANTINED, reason="token_expired", **platform)
            return
        self.emit(PUSH, TYPE.DELIVERED, **platform)
        if self.chance(0.12):
            self.emit(PUSH, TYPE.OPENED, **platform)
            if self.chance(0.3):
                action = self.rng.choice(INTERACTIONS)
                self.emit(PUSH, TYPE.ACTION, interaction_type=action, **platform)
            if self.chance(0.2):
                self.emit(PUSH, TYPE.CLICKED, url=self.rng.choice(URLS[:3]), **platform)
                if self.chance(0.1):  # a sign-up: a conversion without a value
                    self.emit(PUSH, TYPE.CONVERTED, **platform)

    def in_app(self) -> None:
        for _ in range(1 + int(self.rng.expovariate(1.0))):
            self.emit(IN_APP, TYPE.IMPRESSION)
        if self.chance(0.25):
            self.emit(IN_APP, TYPE.INTERACTION, interaction_type=self.rng.choice(INTERACTIONS))

    def web(self) -> None:
        for _ in range(1 + int(self.rng.expovariate(0.8))):
            self.emit(WEB, TYPE.IMPRESSION)
        if self.chance(0.15):
            self.emit(WEB, TYPE.INTERACTION, element_id=self.rng.choice(ELEMENTS))

    def direct_mail(self) -> None:
        self.emit(DIRECT_MAIL, TYPE.TARGETED)
        if self.chance(0.05):
            self.emit(DIRECT_MAIL, TYPE.EXCLUDED, reason="no_postal_address")
        elif self.chance(0.01):
            self.emit(DIRECT_MAIL, TYPE.ERROR, reason="undeliverable")
        else:
            self.emit(DIRECT_MAIL, TYPE.SENT)


# How often a profile is reached on each channel.
CHANNEL_MIX = (
    (_Funnel.email, 0.9),
    (_Funnel.sms, 0.3),
    (_Funnel.push, 0.4),
    (_Funnel.in_app, 0.3),
    (_Funnel.web, 0.35),
    (_Funnel.direct_mail, 0.1),
)


def generate(campaign: Campaign) -> Iterator[event_pb2.Event]:
    """The campaign's events, profile by profile (each profile's events in time order)."""
    rng = random.Random(campaign.seed)
    for profile in range(campaign.profiles):
        funnel = _Funnel(campaign, rng, profile)
        funnel.emit(CAMPAIGN, TYPE.PROFILE_ENTERED)
        for play, probability in CHANNEL_MIX:
            if funnel.chance(probability):
                play(funnel)
        yield from funnel.events


def batches(events: Iterator[event_pb2.Event], size: int) -> Iterator[list[event_pb2.Event]]:
    batch: list[event_pb2.Event] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def send(address: str, campaign: Campaign, batch_size: int = 1_000) -> tuple[int, int]:
    """Send the campaign over IngestStream; return (accepted, rejected)."""
    accepted = rejected = 0
    with grpc.insecure_channel(address) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        requests = (
            ingest_service_pb2.IngestRequest(events=batch)
            for batch in batches(generate(campaign), batch_size)
        )
        for reply in stub.IngestStream(requests, timeout=600):
            accepted += reply.accepted
            rejected += len(reply.rejected)
            if reply.rejected:
                print(
                    f"rejected: {reply.rejected[0].field}: {reply.rejected[0].description}", file=sys.stderr
                )
    return accepted, rejected


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Fill the running stack with a realistic campaign (make demo)."
    )
    parser.add_argument("--ingest", default="127.0.0.1:50051", help="IngestService address")
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--campaign", default="spring-sale")
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=23.0, help="spread the events over this many hours")
    parser.add_argument(
        "--history-days",
        type=float,
        default=21.0,
        help="half of the profiles start over this many days before those hours (0: none)",
    )
    args = parser.parse_args()
    campaign = Campaign(
        args.tenant,
        args.campaign,
        args.profiles,
        args.seed,
        datetime.now(UTC),
        timedelta(hours=args.hours),
        timedelta(days=args.history_days),
    )
    started = time.perf_counter()
    try:
        accepted, rejected = send(args.ingest, campaign)
    except grpc.RpcError as exc:
        sys.exit(f"cannot send to {args.ingest}: {exc.code().name}: {exc.details()} (is `make run` running?)")
    elapsed = time.perf_counter() - started
    print(
        f"campaign {args.campaign} of tenant {args.tenant}: {accepted:,} events accepted, {rejected} rejected"
    )
    print(f"sent in {elapsed:.1f}s; read it with GetReport / GetWidget on the query service")


if __name__ == "__main__":
    main()
