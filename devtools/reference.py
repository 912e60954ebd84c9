"""The reference documents generated from the domain's tables (`make docs`): docs/validation.md,
docs/metrics.md and docs/error-types.md. Tests compare the committed files with these."""

from __future__ import annotations

from campaignreports.domain import catalog, definitions, errortypes, experiment, metrics, texts, validation


def validation_markdown() -> str:
    """The rules as Markdown: the source of docs/validation.md."""
    lines = [
        "# Event validation rules",
        "",
        "Generated from `lib/campaignreports/domain/validation.py` by `make docs`;",
        "a test keeps this file in step.",
        "",
        "## Strings",
        "",
        "| field | required | max length | characters |",
        "|---|---|---|---|",
    ]
    for rule in validation.STRING_RULES:
        chars = "printable, no whitespace" if rule.identifier else "no control characters"
        if rule.accepts is not None:
            chars += f"; {rule.expected}"
        lines.append(f"| `{rule.field}` | {'yes' if rule.required else 'no'} | {rule.max_length} | {chars} |")
    lines += [
        "",
        "`occurred_at` is required, at most 5 minutes in the future and not older than the",
        "retention (`CR_RETENTION_DAYS`).",
        "",
        *(
            f"`{first}` and `{second}` are set together or not at all."
            for first, second in validation.TOGETHER
        ),
        "",
        "## Channels and types",
        "",
        "A detail field not listed for a pair must be left unset.",
        "",
        "| channel | type | requires | may carry |",
        "|---|---|---|---|",
    ]
    for channel_key, types in validation.MATRIX.items():
        for type_key, details in types.items():
            required = (*validation.CHANNEL_DETAILS.get(channel_key, ()), *details.requires)
            lines.append(
                f"| `{validation.channel_name(channel_key)}` | `{validation.type_name(type_key)}` | "
                f"{', '.join(f'`{f}`' for f in required) or '-'} | "
                f"{', '.join(f'`{f}`' for f in details.allows) or '-'} |"
            )
    return "\n".join(lines) + "\n"


def metrics_markdown() -> str:
    """The metric table as Markdown: the source of docs/metrics.md."""
    funnels = ", ".join(f"`{w.id}`" for w in catalog.WIDGETS.values() if w.step_rates)

    lines = [
        "# Metrics",
        "",
        "Generated from `lib/campaignreports/domain/metrics.py` and `definitions.py` by `make docs`;",
        "a test keeps this file in step. `ListWidgets` returns the same definitions in `en`, `fr`,",
        "`sv` and `nl`, with each ratio's numerator and base and each rate's base.",
        "",
        "A `Metric.rate` is the value divided by the value of its rate base (`Metric.rate_base_id`),",
        "0 when the base is 0. A ratio's value is its numerator divided by its base. A funnel widget",
        f"({funnels}) takes each step's rate against the step before it instead: sent against",
        "targeted, delivered against sent, distinct opens against delivered, distinct clicks against",
        "distinct opens.",
        "",
        "| metric | label (en / fr) | definition | value | rate base |",
        "|---|---|---|---|---|",
    ]
    for metric_id, metric in metrics.METRICS.items():
        source = metric.source
        if isinstance(source, metrics.Counted):
            how = f"{source.aggregate.value} of `{source.event_type}`"
            if source.machine is not metrics.Machine.ANY:
                how += f" ({source.machine.value.replace('_', ' ')})"
            if source.channel:
                how += f" in `{source.channel}`"
        elif isinstance(source, metrics.Sum):
            how = " + ".join(f"`{m}`" for m in source.plus) + "".join(f" - `{m}`" for m in source.minus)
        elif isinstance(source, metrics.Classified):
            how = f"`{source.of}` of type `{source.error_type}`"
        else:
            numerator, base = metrics.formula(metric_id) or ("", "")
            how = f"`{numerator}` / `{base}`" + (" of every row" if isinstance(source, metrics.Share) else "")
        labels = f"{texts.metric_label(metric_id, 'en')} / {texts.metric_label(metric_id, 'fr')}"
        rate_base = f"`{metric.rate_base}`" if metric.rate_base else "-"
        lines.append(
            f"| `{metric_id}` | {labels} | {definitions.DEFINITIONS[metric_id][0]} | {how} | {rate_base} |"
        )
    for metric_id, unit in experiment.COMPARISON_UNITS.items():
        labels = f"{texts.metric_label(metric_id, 'en')} / {texts.metric_label(metric_id, 'fr')}"
        how = f"treatment against control ({unit})"
        lines.append(f"| `{metric_id}` | {labels} | {definitions.DEFINITIONS[metric_id][0]} | {how} | - |")
    return "\n".join(lines) + "\n"


def error_types_markdown() -> str:
    """The mapping as Markdown: the source of docs/error-types.md."""
    lines = [
        "# Error types",
        "",
        "Generated from `lib/campaignreports/domain/errortypes.py` by `make docs`;",
        "a test keeps this file in step.",
        "",
        "The non-deliverables widgets (`email_errors_by_type`, `email_errors_by_domain`) count",
        "errors and bounces by error type. Events keep the reason the delivery engine sent; the",
        "type is found when a report is read, so a change to this mapping applies to stored data.",
        "",
        "A reason is classified by, in order:",
        "",
        "1. its normalized form (lower case; spaces, dashes and dots become `_`) in the first table;",
        "2. the first SMTP enhanced status code in it (`550 5.1.1 ...`), by subject and detail",
        "   (`1.1`) in the second table; the class digit (4 or 5) does not change the type;",
        "3. otherwise `other`.",
        "",
        "| reason code | error type |",
        "|---|---|",
    ]
    by_type = sorted(
        errortypes.REASON_TYPES.items(), key=lambda item: (errortypes.ERROR_TYPES.index(item[1]), item[0])
    )
    lines += [f"| `{code}` | `{kind}` |" for code, kind in by_type]
    lines += ["", "| status code `x.` | error type |", "|---|---|"]
    lines += [f"| `x.{code}` | `{kind}` |" for code, kind in errortypes.STATUS_TYPES.items()]
    return "\n".join(lines) + "\n"
