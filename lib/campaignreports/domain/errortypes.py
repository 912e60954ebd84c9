"""Error types: the fixed classification the campaign report's non-deliverables use.

Delivery engines send a free-text `reason` with every error and bounce (`unknown_user`,
`550 5.1.1 mailbox unavailable`, `ABSENT_SUBSCRIBER`). The report groups them into the seven
types an analyst knows from the product documents, plus `other`. The mapping is data, applied
when a report is read: events keep their raw reason, so a change to this table applies to
data already stored.

A reason is classified by, in order:
1. its normalized form (lower case, runs of spaces, dashes and dots made `_`) in `REASON_TYPES`;
2. an SMTP enhanced status code in it (`5.1.1`, `4.2.2`), by its subject and detail
   (`1.1`), in `STATUS_TYPES`: the class digit (4 temporary, 5 permanent) does not change the type;
3. otherwise `other`.
"""

from __future__ import annotations

import re

# In the order the report lists them; `other` last.
ERROR_TYPES: tuple[str, ...] = (
    "unknown_user",
    "invalid_domain",
    "mailbox_full",
    "account_disabled",
    "refused",
    "unreachable",
    "not_connected",
    "other",
)
OTHER = "other"

# Normalized reason code -> error type. Codes of our traffic generator, common SMTP wording,
# SMS gateways (SMPP / GSM MAP errors) and push services (APNs, FCM).
REASON_TYPES: dict[str, str] = {
    # The address (or number, or device token) does not exist.
    "unknown_user": "unknown_user",
    "user_unknown": "unknown_user",
    "no_such_user": "unknown_user",
    "unknown_recipient": "unknown_user",
    "invalid_recipient": "unknown_user",
    "invalid_address": "unknown_user",
    "bad_mailbox": "unknown_user",
    "mailbox_unavailable": "unknown_user",
    "invalid_number": "unknown_user",
    "unknown_subscriber": "unknown_user",
    "invalid_destination_address": "unknown_user",
    "bad_device_token": "unknown_user",
    "baddevicetoken": "unknown_user",
    "invalid_registration": "unknown_user",
    "invalid_token": "unknown_user",
    # The domain is wrong or no longer exists.
    "invalid_domain": "invalid_domain",
    "domain_not_found": "invalid_domain",
    "unknown_domain": "invalid_domain",
    "no_mx": "invalid_domain",
    "no_mx_record": "invalid_domain",
    "dns_failure": "invalid_domain",
    "nxdomain": "invalid_domain",
    # The recipient's mailbox is full.
    "mailbox_full": "mailbox_full",
    "quota_exceeded": "mailbox_full",
    "over_quota": "mailbox_full",
    "inbox_full": "mailbox_full",
    "memory_capacity_exceeded": "mailbox_full",
    # The address existed and no longer does.
    "account_disabled": "account_disabled",
    "disabled": "account_disabled",
    "mailbox_disabled": "account_disabled",
    "account_inactive": "account_disabled",
    "account_closed": "account_disabled",
    "number_deactivated": "account_disabled",
    "token_expired": "account_disabled",
    "unregistered": "account_disabled",
    "expired_token": "account_disabled",
    # Refused by the provider, e.g. by an anti-spam rule.
    "refused": "refused",
    "rejected": "refused",
    "blocked": "refused",
    "spam_blocked": "refused",
    "spam_rejected": "refused",
    "policy_rejection": "refused",
    "content_rejected": "refused",
    "message_rejected": "refused",
    "carrier_blocked": "refused",
    "carrier_violation": "refused",
    # The delivery chain failed: relay incident, domain temporarily unreachable.
    "unreachable": "unreachable",
    "timeout": "unreachable",
    "connection_timeout": "unreachable",
    "connection_refused": "unreachable",
    "relay_error": "unreachable",
    "temporary_failure": "unreachable",
    "service_unavailable": "unreachable",
    "network_error": "unreachable",
    "delivery_failure": "unreachable",
    # The recipient's phone is off or out of the network.
    "not_connected": "not_connected",
    "absent_subscriber": "not_connected",
    "absent_subscriber_sm": "not_connected",
    "phone_off": "not_connected",
    "handset_unavailable": "not_connected",
    "device_offline": "not_connected",
    "subscriber_unavailable": "not_connected",
}

# SMTP enhanced status code "subject.detail" (RFC 3463) -> error type.
STATUS_TYPES: dict[str, str] = {
    "1.1": "unknown_user",  # bad destination mailbox address
    "1.2": "invalid_domain",  # bad destination system address
    "1.3": "unknown_user",  # bad destination mailbox address syntax
    "1.6": "account_disabled",  # destination mailbox has moved
    "2.1": "account_disabled",  # mailbox disabled, not accepting messages
    "2.2": "mailbox_full",  # mailbox full
    "4.1": "unreachable",  # no answer from host
    "4.2": "unreachable",  # bad connection
    "4.4": "invalid_domain",  # unable to route
    "4.7": "unreachable",  # delivery time expired
    "7.1": "refused",  # delivery not authorized, message refused
}

_SEPARATORS = re.compile(r"[\s\-.]+")
_STATUS_CODE = re.compile(r"(?<![\d.])[245]\.(\d{1,3}\.\d{1,3})(?![\d.])")

assert set(REASON_TYPES.values()) | set(STATUS_TYPES.values()) <= set(ERROR_TYPES)
assert all(_SEPARATORS.sub("_", code) == code for code in REASON_TYPES)


def normalize(reason: str) -> str:
    return _SEPARATORS.sub("_", reason.strip().lower()).strip("_")


def error_type(reason: str) -> str:
    """The error type of one reason code (see the module's description of the order)."""
    known = REASON_TYPES.get(normalize(reason))
    if known:
        return known
    status = _STATUS_CODE.search(reason)
    if status:
        return STATUS_TYPES.get(status.group(1), OTHER)
    return OTHER
