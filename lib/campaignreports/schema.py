"""The ClickHouse schema: versioned, idempotent migrations and the current schema as data.

Write path (every name below is in the configured database), version 7:

    aggregator --INSERT--> events           (raw events, each (tenant_id, event_id) once)
        --rollup_minute_mv--> rollup_minute (minute buckets of the last 25 h: the live window)
        --rollup_15m_mv-----> rollup_15m    (15-minute buckets, CR_GLOBAL_RETENTION_DAYS)
            --rollup_hour_mv--> rollup_hour (hours, merged from the 15-minute rows)
                --rollup_day_mv--> rollup_day (UTC days, merged from the hour rows)
    aggregator --INSERT--> profiles         (each campaign's profile ids numbered 0, 1, 2, ...)

A window is read from the coarsest rows that fit it (see `campaignreports.rollups`): a 30-day
report merges about 30 day rows per series instead of 2,880 quarter hours.

Distinct profiles are `groupBitmap` states of a dense per-campaign profile number, which merge
in a few milliseconds where sets of strings took hundreds; the aggregator assigns the numbers
(`profiles`) and drops duplicate events before inserting (see the aggregator's writer), so no
view reads stored events.

Exactly-once: an insert interrupted between the tables of the chain (a crash after `events`
was written but before a rollup was) is retried with exactly the same rows and the same
`round_token` as `insert_deduplication_token`, with
`deduplicate_blocks_in_dependent_materialized_views`, so each table keeps the part it already
has and receives the part it lacks.

Rollups are long: one row per (message, channel, type, is_machine, dimension, value, bucket,
currency), where dimension '' holds the totals, each of BREAKDOWN_DIMENSIONS its breakdown and
each of BREAKDOWN_PAIRS a two-dimensional one, with an event count, for the types some metric
counts distinct profiles of (DISTINCT_PROFILE_TYPES) a bitmap of profile numbers, the exact sum
of conversion values (in the row's currency; '' for events without one) and, in the totals'
rows, the quantile states of time to engage (ENGAGE_MEASURE). Buckets are
UTC; 15 minutes divides every time zone's offset (+5:30, +5:45 included), so local days are cut
exactly.

Cluster mode (CR_CLICKHOUSE_CLUSTER): DDL runs ON CLUSTER, tables are Replicated*, the local
tables take a `_local` suffix, and Distributed tables take the plain names: inserts into
`events` and `profiles` are sharded by campaign and reads of the rollups fan out to every shard.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from campaignreports import schema_v3
from campaignreports.domain.catalog import BREAKDOWN_DIMENSIONS, BREAKDOWN_PAIRS, PAIR_SEPARATOR
from campaignreports.domain.events import RAW_COLUMN_DDL
from campaignreports.domain.metrics import DISTINCT_PROFILE_TYPES
from campaignreports.settings import CommonSettings

log = logging.getLogger(__name__)

LIVE_ROLLUP_HOURS = 25
# Insert blocks each table remembers; a retried block is always among the newest few.
DEDUP_WINDOW_BLOCKS = 1000
# Settings of every aggregator insert (see the module docstring). The views already aggregate
# each block; merging its rows again before writing (optimize_on_insert) nearly doubled the
# cost of every rollup level, and background merges and reads aggregate anyway. The minute and
# quarter-hour views both read the inserted block: run in parallel, they load 1.4 to 1.75 times
# as fast on two cores (measured on 250,000 realistic events).
INSERT_SETTINGS = {
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    "optimize_on_insert": 0,
    "parallel_view_processing": 1,
}
ROLLUPS = ("rollup_minute", "rollup_15m", "rollup_hour", "rollup_day")
# The tables that hold data (in cluster mode each also has a Distributed table).
DATA_TABLES = ("events", "profiles", *ROLLUPS)
VIEWS = tuple(f"{rollup}_mv" for rollup in ROLLUPS)
# Columns of `events` besides the event's own (RAW_COLUMNS), set by the writer.
WRITER_COLUMNS = ("profile_no", "event_key", "round_token", "engaged_after_ms")
PROFILE_COLUMNS = ("tenant_id", "campaign_id", "profile_key", "profile_no", "profile_id", "round_token")


CLICKHOUSE_GRANULARITY = 8192  # ClickHouse's default rows per index granule


@dataclass(frozen=True)
class Measure:
    """A rollup column besides the event count and the profiles: how it is aggregated from raw
    events, and how a coarser level merges it from a finer one."""

    name: str
    column_type: str
    from_events: str
    from_rollup: str

    @property
    def ddl(self) -> str:
        return f"{self.name} {self.column_type}"


@dataclass(frozen=True)
class SchemaInputs:
    """What the DDL is built from besides the dialect: the event's columns, and the breakdowns
    and distinct-profile types of the domain. The current schema is built from the domain's
    tables; a migration from the inputs it was written with, frozen, so that what it creates
    never changes when the domain does (a new field or breakdown is a new migration)."""

    raw_column_ddl: str
    breakdown_dimensions: tuple[str, ...]
    # (name, first dimension, second dimension)
    breakdown_pairs: tuple[tuple[str, str, str], ...]
    distinct_profile_types: tuple[str, ...]
    # Projections of the raw table (DDL, each a line of its CREATE TABLE).
    raw_projections: tuple[str, ...] = ()
    # Columns of the raw table the writer sets, after `round_token` (DDL).
    writer_columns: tuple[str, ...] = ()
    # Rollup keys after the first ones (name, type): appended to the sort key, not the primary key.
    rollup_keys: tuple[tuple[str, str], ...] = ()
    rollup_measures: tuple[Measure, ...] = ()
    # Rows per granule of the rollups' index (ClickHouse's default before version 7).
    rollup_granularity: int = CLICKHOUSE_GRANULARITY
    # Whether a rollup partition left alone for the dialect's `quiet_merge_seconds` is merged
    # into one part (not before version 9).
    rollup_quiet_merge: bool = False
    # Whether the raw table merges in one pass and stops at the dialect's `raw_part_mib`
    # (`_raw_merge_settings`; version 11 on).
    raw_merge_settings: bool = False
    # The rollups holding their rows by type as well (`TYPE_PROJECTION`; version 10 on).
    projected_rollups: tuple[str, ...] = ()
    # Whether the rollups merge more parts at once (`WIDE_MERGES`; version 12 on).
    rollup_wide_merges: bool = False

    @property
    def rollup_group(self) -> str:
        """The columns a rollup row is one per."""
        return ", ".join([_GROUP, *(name for name, _ in self.rollup_keys)])


# The raw events again, sorted by profile within a campaign and type: ListRecipients reads a
# page from where the previous one ended (aggregation in order), instead of every profile of the
# campaign for each page (measured: 20 ms instead of 50-250 ms a page at 1M recipients). Only the
# columns it reads (`recipients.recipients_query`): a copy of every column cost a tenth of the
# engine's insert of realistic events, this one about half of that.
_RECIPIENTS_SELECT = (
    "SELECT tenant_id, campaign_id, type, profile_id, occurred_at, channel, is_machine, message_id, "
    "url, recipient_domain, reason, platform, treatment_id ORDER BY tenant_id, campaign_id, type, profile_id"
)
RECIPIENTS_PROJECTION = f"PROJECTION by_profile ({_RECIPIENTS_SELECT})"

# Time to engage: the writer sets `engaged_after_ms` on a profile's first human open or click of
# a message, the time since that message's delivery to it (-1 on every other event); the rollups
# keep the quantiles' states. quantileBFloat16 keeps each value's first 8 significant bits (a
# value is cut by less than 2^-7, 0.79 %) and counts exactly beyond that, so a quantile read is
# the exact one cut the same way; its state is at most a few thousand (value, count) pairs.
# Only the totals' rows (dimension '') hold the states: a delay metric is read from them alone
# (the catalog has no delay by breakdown value), and every breakdown read decodes the column.
# Breakdown rows with states made the hour rollup 16 % larger and the email tab's main read 9 %
# slower at 10M events (version 13).
ENGAGE_QUANTILES = (0.5, 0.9)
_LEVELS = ", ".join(map(str, ENGAGE_QUANTILES))
ENGAGE_MEASURE = Measure(
    "engage_seconds",
    f"AggregateFunction(quantilesBFloat16({_LEVELS}), Float64)",
    f"quantilesBFloat16StateIf({_LEVELS})(engaged_after_ms / 1000, engaged_after_ms >= 0 AND dimension = '')",
    f"quantilesBFloat16MergeState({_LEVELS})(engage_seconds)",
)
# Conversion values, exact; a row is one currency's (the key), so amounts never mix currencies.
AMOUNT_MEASURE = Measure(
    "amount", "SimpleAggregateFunction(sum, Decimal(38, 9))", "sum(conversion_value)", "sum(amount)"
)

# The rollup rows again, sorted by channel and type before the bucket, with the columns a series
# reads: a series (one metric over time) then decodes the states of the types it counts only,
# where the rollup's own order holds every type of a bucket side by side, so a read decoded every
# state of the campaign's buckets to merge a few. At 10M events the live minute series of a web
# campaign's distinct impressions took 46 ms and 27 from here, its 30-day series by day in
# Asia/Kathmandu (hours, and quarter hours at the day's edges) 59 and 45, the live web tab 76 and
# 56. A total or a breakdown reads most types of a few buckets and keeps the rollup's order.
# The quarter hours have none: a series reads few of them, and they are the rollup a load of
# history writes most rows to (with it, a bulk load used 17 % more CPU; without, as much as
# before). The engine keeps a projection of an aggregating table only when told to rebuild it
# on each merge; a merge of a partition of 10M events then holds about 300 MiB more for a while.
TYPE_PROJECTION_NAME = "by_type"
_TYPE_PROJECTION_QUERY = (
    "(SELECT tenant_id, campaign_id, message_id, channel, type, is_machine, dimension, value, bucket, "
    "events, profiles ORDER BY tenant_id, campaign_id, dimension, channel, type, bucket, is_machine, "
    "value, message_id)"
)
TYPE_PROJECTION = f"PROJECTION {TYPE_PROJECTION_NAME} {_TYPE_PROJECTION_QUERY}"
_PROJECTION_MERGES = "deduplicate_merge_projection_mode = 'rebuild'"
PROJECTED_ROLLUPS = ("rollup_minute", "rollup_hour", "rollup_day")

# A report reads a few contiguous ranges of each rollup (a campaign's dimension, a window of
# buckets) in each part, and decodes every profile and quantile state of each granule a range
# touches. At 8,192 rows a granule that was 4.4 times the rows a live email breakdown needs at
# 10M events; at 1,024 the email tab's reads took a fifth less (30 days 119 -> 95 ms, 400 days
# 113 -> 89 ms, medians). The index stays small: a row of it per 1,024 rollup rows.
ROLLUP_INDEX_GRANULARITY = 1024

CURRENT_INPUTS = SchemaInputs(
    RAW_COLUMN_DDL,
    BREAKDOWN_DIMENSIONS,
    tuple((name, first, second) for name, (first, second) in BREAKDOWN_PAIRS.items()),
    tuple(sorted(DISTINCT_PROFILE_TYPES)),
    (RECIPIENTS_PROJECTION,),
    writer_columns=("engaged_after_ms Int64 DEFAULT -1",),
    rollup_keys=(("currency", "LowCardinality(String)"),),
    rollup_measures=(AMOUNT_MEASURE, ENGAGE_MEASURE),
    rollup_granularity=ROLLUP_INDEX_GRANULARITY,
    rollup_quiet_merge=True,
    projected_rollups=PROJECTED_ROLLUPS,
    raw_merge_settings=True,
    rollup_wide_merges=True,
)


@dataclass(frozen=True)
class Dialect:
    """How DDL is written for one database: plain, or for a cluster."""

    database: str
    cluster: str = ""
    raw_retention_days: int = 30
    global_retention_days: int = 400
    quiet_merge_seconds: int = 60
    raw_part_mib: int = 128

    @classmethod
    def from_settings(cls, settings: CommonSettings, database: str | None = None) -> Dialect:
        return cls(
            database or settings.clickhouse_database,
            settings.clickhouse_cluster,
            settings.retention_days,
            settings.global_retention_days,
            settings.clickhouse_quiet_merge_seconds,
            settings.clickhouse_raw_part_mib,
        )

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def local(self, name: str) -> str:
        """The name of the table holding the data (`_local` in cluster mode)."""
        return f"{self.database}.{name}_local" if self.cluster else f"{self.database}.{name}"

    @property
    def dedup_window(self) -> str:
        """How many recent insert blocks a table remembers, to drop a retried one."""
        setting = "replicated_deduplication_window" if self.cluster else "non_replicated_deduplication_window"
        return f"SETTINGS {setting} = {DEDUP_WINDOW_BLOCKS}"

    def engine(self, kind: str, name: str) -> str:
        if not self.cluster:
            return kind
        return f"Replicated{kind}('/clickhouse/tables/{{shard}}/{self.database}/{name}', '{{replica}}')"


Ddl = Callable[[Dialect, str, SchemaInputs], str]


def _events(d: Dialect, suffix: str, inputs: SchemaInputs) -> str:
    return f"""
        CREATE TABLE IF NOT EXISTS {d.local("events" + suffix)}{d.on_cluster} (
            {inputs.raw_column_ddl},
            profile_no UInt32,
            event_key UInt64,
            round_token String,{"".join(f" {c}," for c in inputs.writer_columns)}
            stored_at DateTime64(3, 'UTC') DEFAULT now64(3){"".join(f", {p}" for p in inputs.raw_projections)}
        )
        ENGINE = {d.engine("MergeTree", "events" + suffix)}
        PARTITION BY toMonday(occurred_at)
        ORDER BY (tenant_id, campaign_id, occurred_at, event_id)
        TTL toDateTime(occurred_at) + INTERVAL {d.raw_retention_days} DAY
        {d.dedup_window}{_appended(_raw_merge_settings(d), inputs.raw_merge_settings)}
    """


def _profiles(d: Dialect, suffix: str, inputs: SchemaInputs) -> str:
    return f"""
        CREATE TABLE IF NOT EXISTS {d.local("profiles" + suffix)}{d.on_cluster} (
            tenant_id LowCardinality(String),
            campaign_id String,
            profile_key UInt64,
            profile_no UInt32,
            profile_id String,
            round_token String
        )
        ENGINE = {d.engine("MergeTree", "profiles" + suffix)}
        ORDER BY (tenant_id, campaign_id, profile_no)
        {d.dedup_window}
    """


_ROLLUP_KEY = "tenant_id, campaign_id, dimension, bucket, channel, type, is_machine, value, message_id"


def _rollup_order(inputs: SchemaInputs) -> str:
    """The rollup's sort key, and its primary key where keys were added to the sort key later
    (ClickHouse extends a sort key only with new columns, and keeps the primary key)."""
    if not inputs.rollup_keys:
        return f"ORDER BY ({_ROLLUP_KEY})"
    added = ", ".join(name for name, _ in inputs.rollup_keys)
    return f"PRIMARY KEY ({_ROLLUP_KEY})\n            ORDER BY ({_ROLLUP_KEY}, {added})"


def _rollup_extras(inputs: SchemaInputs) -> str:
    """The DDL of the rollup columns after `profiles`: keys added later, then measures."""
    columns = [f"{name} {column_type}" for name, column_type in inputs.rollup_keys]
    return "".join(f",\n                {c}" for c in [*columns, *(m.ddl for m in inputs.rollup_measures)])


def _rollup(name: str, partition: str, ttl: str) -> Ddl:
    def ddl(d: Dialect, suffix: str, inputs: SchemaInputs) -> str:
        return f"""
            CREATE TABLE IF NOT EXISTS {d.local(name + suffix)}{d.on_cluster} (
                tenant_id LowCardinality(String),
                campaign_id String,
                message_id String,
                channel LowCardinality(String),
                type LowCardinality(String),
                is_machine Bool,
                dimension LowCardinality(String),
                value String,
                bucket DateTime('UTC'),
                events SimpleAggregateFunction(sum, UInt64),
                profiles AggregateFunction(groupBitmap, UInt32){_rollup_extras(inputs)}{
            f", {TYPE_PROJECTION}" if name in inputs.projected_rollups else ""
        }
            )
            ENGINE = {d.engine("AggregatingMergeTree", name + suffix)}
            PARTITION BY {partition}(bucket)
            {_rollup_order(inputs)}
            TTL bucket + INTERVAL {ttl.format(d=d)}
            {d.dedup_window}{_granularity(inputs)}{_quiet_merge(d, inputs)}{
            f", {_PROJECTION_MERGES}" if name in inputs.projected_rollups else ""
        }{_appended([WIDE_MERGES], inputs.rollup_wide_merges)}
        """

    return ddl


def _granularity(inputs: SchemaInputs) -> str:
    """The rollup's index granularity, after its other settings; none written for ClickHouse's
    default (what versions 4 to 6 created)."""
    granularity = inputs.rollup_granularity
    return "" if granularity == CLICKHOUSE_GRANULARITY else f", index_granularity = {granularity}"


def _quiet_merge_settings(d: Dialect) -> list[str]:
    """The merge settings that make a partition nobody has written to for `quiet_merge_seconds`
    one part (none when 0).

    Background merges leave several parts per partition, of unequal sizes, since merging a small
    part into a large one costs more than it saves a writer. A bulk load of 10M events left 6
    to 8 parts in each rollup partition, and every report read pays for each part: the email
    tab over 30 days took 98 ms, and 80 ms once each partition was one part. Only whole, quiet
    partitions are merged, so a partition still being written is left to the usual merges; a
    late event in a quiet partition costs a rewrite of it (21 MB for a month of the 10M-event
    store's quarter-hour rollup)."""
    if not d.quiet_merge_seconds:
        return []
    return [
        f"min_age_to_force_merge_seconds = {d.quiet_merge_seconds}",
        "min_age_to_force_merge_on_partition_only = 1",
    ]


def _raw_merge_settings(d: Dialect) -> list[str]:
    """The raw table's merge settings: merge every column in one pass, and stop at parts of
    `raw_part_mib` (no cap when 0).

    The engine's merges keep joining a week's raw parts into ever larger ones, each time
    rewriting every row and sorting it again for the projection by profile. Into a store of 10M
    events, a second load of 1M started a merge of the current week's ten parts (6.8M rows,
    520 MB) that took 11 s of a core during the load: the load used 25 s of CPU instead of 17
    and ran at 75k events/s instead of 89k. Capped at 150 MB, the same load used 17.4 s and ran
    at 90k. Raw rows are read only for recipient lists and rebuilds, a page of which costs one
    index look-up per part, so more, smaller parts cost them little. The engine merges a table
    this wide column by column (a vertical merge) to save memory, which at these part sizes is
    a few MiB either way; in one pass, a week of 1.4M raw events merged with 4.2 s of CPU
    instead of 5.0."""
    settings = ["enable_vertical_merge_algorithm = 0"]
    if d.raw_part_mib:
        settings.append(f"max_bytes_to_merge_at_max_space_in_pool = {d.raw_part_mib * 1024 * 1024}")
    return settings


# The engine merges a partition's parts once about `merge_selector_base` (5 by default) of
# similar size are there; each merge rewrites its rows, so a row is rewritten about once per
# level, and fewer, wider merges rewrite it fewer times. A bulk load writes a part per insert
# into every rollup partition it touches, and merges were a third of its CPU. Two loads of 1M
# events in a row into a store of 14M, each pair twice, raw parts capped at 32 MiB in each
# case: with 10 on the raw table and the rollups the pair used 29.0 and 30.3 s of CPU, against
# 33.4 and 33.9 without (the first load of a pair ran at 112-113k events/s instead of 84-87k,
# the second at 88-93k instead of 95-101k, merging what the first left); with 10 on the raw
# table alone, 32.5 and 35.0: the saving is the rollups'. A rollup partition holds up to about
# twice as many parts while it is written to; once quiet it is merged into one part all the same
# (`_quiet_merge_settings`).
WIDE_MERGES = "merge_selector_base = 10"


def _appended(settings: list[str], applies: bool) -> str:
    """Table settings written after the first one of a CREATE TABLE's SETTINGS (when `applies`)."""
    return "".join(f", {setting}" for setting in settings) if applies else ""


def _quiet_merge(d: Dialect, inputs: SchemaInputs) -> str:
    return _appended(_quiet_merge_settings(d), inputs.rollup_quiet_merge)


_GROUP = "tenant_id, campaign_id, message_id, channel, type, is_machine, dimension, value, bucket"


def _breakdowns(inputs: SchemaInputs) -> str:
    """`[(dimension, value), ...]` of one event: the totals, each breakdown, each pair."""
    single = [f"('{dim}', CAST({dim} AS String))" for dim in inputs.breakdown_dimensions]
    pairs = [
        f"('{name}', if({first} = '' OR {second} = '', '', concat({first}, '{PAIR_SEPARATOR}', {second})))"
        for name, first, second in inputs.breakdown_pairs
    ]
    return ", ".join(["('', '')", *single, *pairs])


def _measures(inputs: SchemaInputs, source: str) -> str:
    """A view's selection of the keys added later and the measures (`source`: from_events or
    from_rollup)."""
    keys = [name for name, _ in inputs.rollup_keys]
    measures = [f"{getattr(m, source)} AS {m.name}" for m in inputs.rollup_measures]
    return "".join(f", {column}" for column in [*keys, *measures])


def _rollup_from_events(bucket: str, where: str = "") -> Ddl:
    def select(d: Dialect, suffix: str, inputs: SchemaInputs) -> str:
        distinct_types = ", ".join(f"'{t}'" for t in inputs.distinct_profile_types)
        profiles = f"groupBitmapStateIf(profile_no, type IN ({distinct_types})) AS profiles"
        return f"""SELECT
                tenant_id, campaign_id, message_id, channel, type, is_machine,
                breakdown.1 AS dimension, breakdown.2 AS value,
                {bucket}(occurred_at) AS bucket,
                count() AS events,
                {profiles}{_measures(inputs, "from_events")}
            FROM {d.local("events" + suffix)}
            ARRAY JOIN arrayFilter(b -> b.1 = '' OR b.2 != '', [{_breakdowns(inputs)}]) AS breakdown
            {where}
            GROUP BY {inputs.rollup_group}
        """

    return select


def _rollup_from_rollup(finer: str, bucket: str) -> Ddl:
    """A coarser level merged from the rows just written to the finer one (a few rows per
    bucket), not from raw events again."""

    def select(d: Dialect, suffix: str, inputs: SchemaInputs) -> str:
        return f"""SELECT
                tenant_id, campaign_id, message_id, channel, type, is_machine, dimension, value,
                {bucket}(bucket) AS bucket,
                sum(events) AS events,
                groupBitmapMergeState(profiles) AS profiles{_measures(inputs, "from_rollup")}
            FROM {d.local(finer + suffix)}
            GROUP BY {inputs.rollup_group}
        """

    return select


def _distributed(name: str, sharding_key: str) -> Ddl:
    def ddl(d: Dialect, suffix: str, inputs: SchemaInputs) -> str:
        local = d.local(name + suffix).split(".", 1)[1]
        return f"""
            CREATE TABLE IF NOT EXISTS {d.database}.{name}{suffix}{d.on_cluster} AS {d.database}.{local}
            ENGINE = Distributed({d.cluster}, {d.database}, {local}, {sharding_key})
        """

    return ddl


# Version 1's raw columns, frozen (the current ones are the event field table's).
_V1_RAW_COLUMN_DDL = """
            event_id String,
            tenant_id LowCardinality(String),
            campaign_id String,
            message_id String,
            channel LowCardinality(String),
            type LowCardinality(String),
            profile_id String,
            occurred_at DateTime64(3, 'UTC'),
            treatment_id String,
            reason String,
            bounce_category LowCardinality(String),
            recipient_domain String,
            platform LowCardinality(String),
            url String,
            interaction_type String,
            element_id String,
            is_machine Bool"""

# Version 4's inputs, frozen: what migration 4 creates, whatever the domain becomes.
_V4_INPUTS = SchemaInputs(
    raw_column_ddl=_V1_RAW_COLUMN_DDL,  # the event's columns did not change from version 1 to 4
    breakdown_dimensions=(
        "treatment_id", "reason", "bounce_category", "recipient_domain", "platform", "url",
        "interaction_type", "element_id",
    ),
    breakdown_pairs=(("reason_domain", "reason", "recipient_domain"),),
    distinct_profile_types=("clicked", "impression", "interaction", "opened", "profile_entered"),
)  # fmt: skip

# Version 6's inputs, frozen (its views; its columns are written out in `_v6`).
_V6_AMOUNT = "amount SimpleAggregateFunction(sum, Decimal(38, 9))"
_V6_ENGAGE = "engage_seconds AggregateFunction(quantilesBFloat16(0.5, 0.9), Float64)"
_V6_INPUTS = SchemaInputs(
    raw_column_ddl="",  # not used by the views
    breakdown_dimensions=_V4_INPUTS.breakdown_dimensions,
    breakdown_pairs=_V4_INPUTS.breakdown_pairs,
    distinct_profile_types=("clicked", "converted", "impression", "interaction", "opened", "profile_entered"),
    rollup_keys=(("currency", "LowCardinality(String)"),),
    rollup_measures=(
        Measure("amount", "", "sum(conversion_value)", "sum(amount)"),
        Measure(
            "engage_seconds",
            "",
            "quantilesBFloat16StateIf(0.5, 0.9)(engaged_after_ms / 1000, engaged_after_ms >= 0)",
            "quantilesBFloat16MergeState(0.5, 0.9)(engage_seconds)",
        ),
    ),
)

# Version 7's inputs, frozen: the rollup tables it creates (version 6's, with finer granules).
_V7_INPUTS = dataclasses.replace(
    _V6_INPUTS,
    rollup_measures=tuple(
        dataclasses.replace(measure, column_type=ddl.split(" ", 1)[1])
        for measure, ddl in zip(_V6_INPUTS.rollup_measures, (_V6_AMOUNT, _V6_ENGAGE), strict=True)
    ),
    rollup_granularity=1024,
)

# Version 13's inputs, frozen: its views (version 7's, with time-to-engage states in the totals'
# rows only).
_V13_INPUTS = dataclasses.replace(
    _V7_INPUTS,
    rollup_measures=(
        _V7_INPUTS.rollup_measures[0],
        dataclasses.replace(
            _V7_INPUTS.rollup_measures[1],
            from_events="quantilesBFloat16StateIf(0.5, 0.9)"
            "(engaged_after_ms / 1000, engaged_after_ms >= 0 AND dimension = '')",
        ),
    ),
)

_GLOBAL_TTL = "{d.global_retention_days} DAY"
_TABLE_DDL: tuple[Ddl, ...] = (
    _events,
    _profiles,
    _rollup("rollup_minute", "toYYYYMMDD", f"{LIVE_ROLLUP_HOURS} HOUR"),
    _rollup("rollup_15m", "toYYYYMM", _GLOBAL_TTL),
    _rollup("rollup_hour", "toYYYYMM", _GLOBAL_TTL),
    _rollup("rollup_day", "toYYYYMM", _GLOBAL_TTL),
)
# Each rollup's view (its SELECT), in ROLLUPS' order.
_VIEW_SELECTS: tuple[Ddl, ...] = (
    # Minute rows only for what the live window can show: a load of history writes none.
    _rollup_from_events("toStartOfMinute", f"WHERE occurred_at >= now() - INTERVAL {LIVE_ROLLUP_HOURS} HOUR"),
    _rollup_from_events("toStartOfFifteenMinutes"),
    _rollup_from_rollup("rollup_15m", "toStartOfHour"),
    _rollup_from_rollup("rollup_hour", "toStartOfDay"),
)
_CAMPAIGN_SHARDING = "cityHash64(tenant_id, campaign_id)"
_DISTRIBUTED_DDL: tuple[Ddl, ...] = (
    _distributed("events", _CAMPAIGN_SHARDING),
    _distributed("profiles", _CAMPAIGN_SHARDING),
    *(_distributed(rollup, "rand()") for rollup in ROLLUPS),
)


def table_statements(dialect: Dialect, suffix: str = "", inputs: SchemaInputs = CURRENT_INPUTS) -> list[str]:
    """Tables of the schema (and, in cluster mode, their Distributed tables)."""
    statements = [ddl(dialect, suffix, inputs) for ddl in _TABLE_DDL]
    if dialect.cluster:
        statements += [ddl(dialect, suffix, inputs) for ddl in _DISTRIBUTED_DDL]
    return statements


def view_statements(dialect: Dialect, suffix: str = "", inputs: SchemaInputs = CURRENT_INPUTS) -> list[str]:
    """Materialized views of the schema; created after the tables they connect."""
    d = dialect
    return [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {d.database}.{rollup}_mv{suffix}{d.on_cluster}\n"
        f"            TO {d.local(rollup + suffix)}\n            AS {select(d, suffix, inputs)}"
        for rollup, select in zip(ROLLUPS, _VIEW_SELECTS, strict=True)
    ]


def current_schema(dialect: Dialect, suffix: str = "") -> list[str]:
    return table_statements(dialect, suffix) + view_statements(dialect, suffix)


def drop_statements(dialect: Dialect, suffix: str) -> list[str]:
    """Drop every object of the schema carrying `suffix` (views first)."""
    d = dialect
    views = [f"DROP VIEW IF EXISTS {d.database}.{name}{suffix}{d.on_cluster} SYNC" for name in VIEWS]
    tables = [f"DROP TABLE IF EXISTS {d.local(name + suffix)}{d.on_cluster} SYNC" for name in DATA_TABLES]
    if d.cluster:
        tables += [
            f"DROP TABLE IF EXISTS {d.database}.{name}{suffix}{d.on_cluster} SYNC" for name in DATA_TABLES
        ]
    return views + tables


def switch_statements(dialect: Dialect, suffix: str) -> list[str]:
    """Put the tables built under `suffix` in place of the live ones, whose data then carries
    `suffix`; the views of both are dropped and the live views recreated over the new data."""
    d = dialect
    drops = [
        f"DROP VIEW IF EXISTS {d.database}.{name}{either}{d.on_cluster} SYNC"
        for name in VIEWS
        for either in ("", suffix)
    ]
    exchanges = [
        f"EXCHANGE TABLES {d.local(name)} AND {d.local(name + suffix)}{d.on_cluster}" for name in DATA_TABLES
    ]
    return drops + exchanges + view_statements(d)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: Callable[[Dialect], list[str]]
    # Work after the statements that depends on what the database holds (which tables, which
    # partitions); it must be safe to run again after an interruption anywhere in it.
    then: Callable[[Client, Dialect], None] | None = None


def _v1(d: Dialect) -> list[str]:
    """The first schema (superseded by version 2; kept so that old databases upgrade)."""
    if d.cluster:
        return []
    db = d.database
    return [
        f"""CREATE TABLE IF NOT EXISTS {db}.events ({_V1_RAW_COLUMN_DDL},
                stored_at DateTime64(3, 'UTC') DEFAULT now64(3))
            ENGINE = MergeTree PARTITION BY toYYYYMMDD(occurred_at)
            ORDER BY (tenant_id, campaign_id, occurred_at, event_id)
            TTL toDateTime(occurred_at) + INTERVAL {d.raw_retention_days} DAY""",
    ]


def _v2(d: Dialect) -> list[str]:
    """Replace version 1's rollup, bring its `events` table to version 2's definition."""
    if d.cluster:
        return schema_v3.schema(d)
    events = f"{d.database}.events"
    upgrades = [
        f"DROP VIEW IF EXISTS {d.database}.rollup_minute_mv",
        f"DROP TABLE IF EXISTS {d.database}.rollup_minute",
        f"ALTER TABLE {events} ADD COLUMN IF NOT EXISTS round_token String AFTER is_machine",
        f"ALTER TABLE {events} ADD INDEX IF NOT EXISTS event_id_bloom event_id "
        "TYPE bloom_filter(0.01) GRANULARITY 4",
        f"ALTER TABLE {events} MODIFY SETTING non_replicated_deduplication_window = {DEDUP_WINDOW_BLOCKS}",
    ]
    return upgrades + schema_v3.schema(d)


def _v3(d: Dialect) -> list[str]:
    """Narrow the dedup lookup to the block's event ids. MODIFY QUERY swaps the view's query at
    once: dropping and recreating it would let inserts in between pass without reaching `events`
    (an aggregator of the previous release may still be writing while the migration runs)."""
    query = schema_v3.dedup_select(d, "")
    return [f"ALTER TABLE {d.database}.events_dedup_mv{d.on_cluster} MODIFY QUERY {query}"]


V3_DATA_TABLES = ("events", "rollup_minute", "rollup_15m")


def _v4(d: Dialect) -> list[str]:
    """Version 4's tables and views. Version 3's tables are kept under a `_v3` suffix, not
    dropped, until the operator has rebuilt from the stream and dropped them (see the README):
    the stream may not reach back as far as they do."""
    v3_views = ("events_dedup_mv", "rollup_minute_mv", "rollup_15m_mv")
    statements = [f"DROP VIEW IF EXISTS {d.database}.{view}{d.on_cluster} SYNC" for view in v3_views]
    if d.cluster:
        statements += [
            f"DROP TABLE IF EXISTS {d.database}.{name}{d.on_cluster} SYNC"
            for name in ("events_incoming", *V3_DATA_TABLES)
        ]
    statements.append(f"DROP TABLE IF EXISTS {d.local('events_incoming')}{d.on_cluster} SYNC")
    statements += [
        f"RENAME TABLE IF EXISTS {d.local(name)} TO {d.local(name + '_v3')}{d.on_cluster}"
        for name in V3_DATA_TABLES
    ]
    return statements + table_statements(d, "", _V4_INPUTS) + view_statements(d, "", _V4_INPUTS)


def _v5(d: Dialect) -> list[str]:
    """The raw table's projection by profile, built for the data already there in the
    background (a mutation: reads use it on the parts that have it)."""
    events = f"{d.local('events')}{d.on_cluster}"
    return [
        f"ALTER TABLE {events} ADD PROJECTION IF NOT EXISTS "
        "by_profile (SELECT * ORDER BY tenant_id, campaign_id, type, profile_id)",
        f"ALTER TABLE {events} MATERIALIZE PROJECTION by_profile",
    ]


def _v6(d: Dialect) -> list[str]:
    """Conversions and time to engage: the raw columns, the rollups' currency key and measures,
    and the views computing them. Columns first, so that an aggregator of the previous release
    still writing meanwhile only leaves them at their defaults; MODIFY QUERY then swaps each
    view's query at once (see version 3)."""
    on = d.on_cluster
    events = [
        "ADD COLUMN IF NOT EXISTS conversion_value Decimal(38, 9) AFTER is_machine",
        "ADD COLUMN IF NOT EXISTS currency LowCardinality(String) AFTER conversion_value",
        "ADD COLUMN IF NOT EXISTS engaged_after_ms Int64 DEFAULT -1 AFTER round_token",
    ]
    rollup = [
        "ADD COLUMN IF NOT EXISTS currency LowCardinality(String)",
        f"ADD COLUMN IF NOT EXISTS {_V6_AMOUNT}",
        f"ADD COLUMN IF NOT EXISTS {_V6_ENGAGE}",
    ]
    order = f"MODIFY ORDER BY ({_ROLLUP_KEY}, currency)"
    statements = [f"ALTER TABLE {d.local('events')}{on} {', '.join(events)}"]
    statements += [f"ALTER TABLE {d.local(name)}{on} {', '.join([*rollup, order])}" for name in ROLLUPS]
    if d.cluster:  # the Distributed tables take the same columns
        statements += [
            f"ALTER TABLE {d.database}.{name}{on} {', '.join(columns)}"
            for name, columns in (("events", events), *((name, rollup) for name in ROLLUPS))
        ]
    return statements + [
        f"ALTER TABLE {d.database}.{view}{on} MODIFY QUERY {select(d, '', _V6_INPUTS)}"
        for view, select in zip(VIEWS, _VIEW_SELECTS, strict=True)
    ]


def _v7(d: Dialect) -> list[str]:
    """Version 7's rollup tables, empty, beside version 6's (see `_v7_then`); none in a cluster."""
    if d.cluster:
        return []
    return [ddl(d, _V7_KEPT, _V7_INPUTS) for ddl in _TABLE_DDL[2:]]


_V7_KEPT = "_v6"  # the suffix of a version 6 rollup while its data moves into the version 7 one


def _v7_then(client: Client, d: Dialect) -> None:
    """Each rollup of version 6 becomes a table with finer granules: the new table (created by
    `_v7`) takes the name (EXCHANGE, at once: the views write to whatever table has the name,
    so no insert is lost), then every partition of the old one moves into it (parts are moved, not inserted,
    so the views do not count them again; rows keep their coarser granules until merged). Run
    again after an interruption, it finds what is left to move. A cluster keeps its rollups:
    their partitions differ per shard (the rebuild, see the README, builds finer ones)."""
    if d.cluster:
        log.warning("schema 7: a cluster's rollups keep 8192-row granules until rebuilt")
        return
    for rollup in ROLLUPS:
        live, kept = f"{d.database}.{rollup}", f"{d.database}.{rollup}{_V7_KEPT}"
        created = client.query(
            "SELECT create_table_query FROM system.tables "
            "WHERE database = {db:String} AND name = {name:String}",
            parameters={"db": d.database, "name": rollup},
        ).result_rows[0][0]
        if f"index_granularity = {_V7_INPUTS.rollup_granularity}" not in created:
            client.command(f"EXCHANGE TABLES {live} AND {kept}")
        partitions = client.query(
            "SELECT DISTINCT partition_id FROM system.parts "
            "WHERE database = {db:String} AND table = {name:String} AND active ORDER BY partition_id",
            parameters={"db": d.database, "name": rollup + _V7_KEPT},
        ).result_rows
        for (partition,) in partitions:
            assert partition.isalnum(), partition  # a partition id: digits of a month or day
            client.command(f"ALTER TABLE {kept} MOVE PARTITION ID '{partition}' TO TABLE {live}")
        client.command(f"DROP TABLE IF EXISTS {kept} SYNC")


def _v8(d: Dialect) -> list[str]:
    """The projection by profile narrowed to what ListRecipients reads, built again for the data
    already there in the background (a mutation). Until it is, a page reads the raw table: slower,
    the same rows. Each statement can run again after an interruption."""
    events = f"{d.local('events')}{d.on_cluster}"
    return [
        f"ALTER TABLE {events} DROP PROJECTION IF EXISTS by_profile",
        f"ALTER TABLE {events} ADD PROJECTION IF NOT EXISTS by_profile ({_RECIPIENTS_SELECT})",
        f"ALTER TABLE {events} MATERIALIZE PROJECTION by_profile",
    ]


def _v9(d: Dialect) -> list[str]:
    """Quiet rollup partitions merged into one part (`_quiet_merge_settings`): table settings
    only, so the parts already there are merged by the engine in the background."""
    settings = _quiet_merge_settings(d)
    if not settings:
        return []
    return [
        f"ALTER TABLE {d.local(name)}{d.on_cluster} MODIFY SETTING {', '.join(settings)}" for name in ROLLUPS
    ]


def _v10(d: Dialect) -> list[str]:
    """The projection by channel and type (`TYPE_PROJECTION`) of the minute, hour and day
    rollups, built for the rows already there in the background (a mutation); until it is, a
    series reads the rollup's own order: slower, the same figures. Each statement can run again
    after an interruption."""
    statements = []
    name_and_query = f"{TYPE_PROJECTION_NAME} {_TYPE_PROJECTION_QUERY}"
    for name in PROJECTED_ROLLUPS:
        table = f"{d.local(name)}{d.on_cluster}"
        statements += [
            f"ALTER TABLE {table} MODIFY SETTING {_PROJECTION_MERGES}",
            f"ALTER TABLE {table} ADD PROJECTION IF NOT EXISTS {name_and_query}",
            f"ALTER TABLE {table} MATERIALIZE PROJECTION {TYPE_PROJECTION_NAME}",
        ]
    return statements


def _v11(d: Dialect) -> list[str]:
    """The raw table merges in one pass and stops at `raw_part_mib` (`_raw_merge_settings`):
    table settings only; parts already larger stay as they are."""
    settings = ", ".join(_raw_merge_settings(d))
    return [f"ALTER TABLE {d.local('events')}{d.on_cluster} MODIFY SETTING {settings}"]


def _v12(d: Dialect) -> list[str]:
    """Wider merges (`WIDE_MERGES`) of the rollups: table settings only, applied to the merges
    the engine picks from then on."""
    return [f"ALTER TABLE {d.local(name)}{d.on_cluster} MODIFY SETTING {WIDE_MERGES}" for name in ROLLUPS]


def _v13(d: Dialect) -> list[str]:
    """Time-to-engage states in the totals' rows only (see ENGAGE_MEASURE): the views reading raw
    events take their new query at once (MODIFY QUERY, as in version 6), and the coarser levels
    merge what those write. Rows already written keep their breakdowns' states, which nothing
    reads, until their partitions expire."""
    return [
        f"ALTER TABLE {d.database}.{view}{d.on_cluster} MODIFY QUERY {select(d, '', _V13_INPUTS)}"
        for view, select in zip(VIEWS[:2], _VIEW_SELECTS[:2], strict=True)
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "raw events", _v1),
    Migration(2, "exactly-once write path; live and global rollups with breakdowns", _v2),
    Migration(3, "dedup lookup narrowed to each block's event ids", _v3),
    Migration(
        4,
        "dense profile numbers and bitmaps; minute, 15-minute, hour and day rollups; dedup by the writer",
        _v4,
    ),
    Migration(5, "raw events by profile (ListRecipients)", _v5),
    Migration(6, "conversions with exact values by currency; time to engage", _v6),
    Migration(7, "rollups indexed by granules of 1,024 rows", _v7, _v7_then),
    Migration(8, "raw events by profile: only the columns ListRecipients reads", _v8),
    Migration(9, "rollup partitions merged into one part once nobody writes to them", _v9),
    Migration(10, "rollup rows by channel and type for series", _v10),
    Migration(11, "raw parts merged in one pass, up to a size", _v11),
    Migration(12, "rollups merged more parts at a time", _v12),
    Migration(13, "time-to-engage states in the totals' rows only", _v13),
)


def migrate(client: Client, dialect: Dialect, target: int | None = None) -> int:
    """Bring the database to schema version `target` (the newest by default); return it.

    A database without any version gets the newest schema directly; one at an older version
    goes through every migration after it."""
    target = target or MIGRATIONS[-1].version
    db = dialect.database
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}{dialect.on_cluster}")
    client.command(
        f"""
        CREATE TABLE IF NOT EXISTS {db}.schema_migrations{dialect.on_cluster} (
            version UInt32, description String, applied_at DateTime DEFAULT now()
        ) ENGINE = {dialect.engine("ReplacingMergeTree", "schema_migrations")} ORDER BY version
        """
    )
    applied = {row[0] for row in client.query(f"SELECT version FROM {db}.schema_migrations").result_rows}
    pending = [m for m in MIGRATIONS if m.version not in applied and m.version <= target]
    if not applied and target == MIGRATIONS[-1].version:
        log.info("creating schema version %d", target)
        for statement in current_schema(dialect):
            client.command(statement)
        _record(client, db, pending)
        return target
    for migration in pending:
        log.info("applying schema migration %d: %s", migration.version, migration.description)
        for statement in migration.statements(dialect):
            client.command(statement)
        if migration.then is not None:
            migration.then(client, dialect)
        _record(client, db, [migration])
    return target


def _record(client: Client, database: str, migrations: list[Migration]) -> None:
    client.insert(
        f"{database}.schema_migrations",
        [[m.version, m.description] for m in migrations],
        column_names=["version", "description"],
    )
