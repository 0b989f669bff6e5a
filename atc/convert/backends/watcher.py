"""pySigma backend emitting Elasticsearch X-Pack Watcher definitions as curl commands."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from sigma.conversion.state import ConversionState
from sigma.rule import SigmaRule

from atc.convert.backends.lucene import LuceneBackend

MAIL = "root@localhost"
INTERVAL = "30m"
INDICES = ["winlogbeat-*"]
TIME_FIELD = "@timestamp"  # the event time field Beats (winlogbeat) and ECS write
HITS = 100  # hits returned with the search, listed in the mail (the condition still counts all of them)
EMAIL_BODY = "Hits:\n{{#ctx.payload.hits.hits}}{{_source}}\n" + "=" * 80 + "\n{{/ctx.payload.hits.hits}}"


def watch(rule: SigmaRule, query: str) -> dict[str, Any]:
    """Watch definition running the Lucene query every 30 minutes over the last 30 minutes of events and mailing the hits."""
    return {
        "metadata": {
            "title": rule.title,
            "description": rule.description,
            "tags": [str(tag) for tag in rule.tags],
            "query": query,
        },
        "trigger": {"schedule": {"interval": INTERVAL}},
        "input": {
            "search": {
                "request": {
                    "body": {
                        "size": HITS,
                        "sort": [{TIME_FIELD: {"order": "desc"}}],
                        "query": {
                            "bool": {
                                "must": [{"query_string": {"query": query, "analyze_wildcard": True}}],
                                "filter": {"range": {TIME_FIELD: {"gte": f"now-{INTERVAL}/m"}}},
                            }
                        },
                    },
                    "indices": INDICES,
                }
            }
        },
        "condition": {"compare": {"ctx.payload.hits.total": {"not_eq": 0}}},
        "actions": {
            "send_email": {
                "throttle_period": "15m",
                "email": {
                    "profile": "standard",
                    "from": MAIL,
                    "to": MAIL,
                    "subject": f"Sigma Rule '{rule.title}'",
                    "body": EMAIL_BODY,
                    "attachments": {"data.json": {"data": {"format": "json"}}},
                },
            }
        },
    }


class WatcherBackend(LuceneBackend):
    """LuceneBackend (pass it the ecs_windows pipeline) with a `watcher` output format, the default."""

    name: ClassVar[str] = "Elasticsearch X-Pack Watcher"
    identifier: ClassVar[str] = "atc_watcher"
    formats: ClassVar[dict[str, str]] = {**LuceneBackend.formats, "watcher": "curl command putting an X-Pack watch per rule"}
    default_format: ClassVar[str] = "watcher"

    def finalize_query_watcher(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> str:
        """curl PUT of the watch, its JSON in a quoted heredoc so the shell expands nothing."""
        watch_id = (str(rule.id) if rule.id else re.sub(r"[^\w-]+", "_", rule.title)) + (f"-{index}" if index else "")
        return (
            f"curl -s -XPUT -H 'Content-Type: application/json' --data-binary @- localhost:9200/_watcher/watch/{watch_id} <<'EOF'\n"
            f"{json.dumps(watch(rule, query), indent=2)}\nEOF"
        )

    def finalize_output_watcher(self, queries: list[str]) -> str:
        """All curl commands as one shell script."""
        return "\n".join(queries)
