"""pySigma's Kusto backend with the processing pipeline chosen per rule, by the log source it maps to a table."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from sigma.backends.kusto import KustoBackend as UpstreamKustoBackend
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from atc.convert.plugins import pipeline as named_pipeline
from atc.convert.plugins import resolve_pipelines

# In order of preference: Defender XDR's Device* tables, then Sentinel's ASIM tables, then Azure Monitor's
# SecurityEvent/Event tables; each maps a different set of log sources to a table.
PIPELINES = ("microsoft_xdr", "sentinel_asim", "azure_monitor")
# Log sources none of them maps, with the Azure Monitor table that holds them (its schema still checks the fields).
TABLES = {("windows", "security"): "SecurityEvent"}
NO_TABLE = "Unable to determine table name"


class KustoBackend(UpstreamKustoBackend):
    """KQL from the first of microsoft_xdr, sentinel_asim and azure_monitor that maps the rule's log source to a table
    holding the rule's fields.

    The query starts with a comment naming the pipeline, so `sigma convert -t kusto -p <pipeline>` reproduces it.
    """

    identifier: ClassVar[str] = "atc_kusto"
    own_pipelines: ClassVar[tuple[str, ...]] = PIPELINES  # resolved by the backend itself, named in the versions

    def __init__(self, processing_pipeline: ProcessingPipeline | None = None, collect_errors: bool = False, **options: Any) -> None:
        super().__init__(processing_pipeline, collect_errors, **options)
        self._by_pipeline: dict[str, UpstreamKustoBackend] = {}

    def _backend(self, name: str) -> UpstreamKustoBackend:
        """The upstream backend for one pipeline name, or for "azure_monitor:<table>" (that pipeline with its table set)."""
        if name not in self._by_pipeline:
            pipeline_name, _, table = name.partition(":")
            pipeline = named_pipeline(pipeline_name, query_table=table) if table else resolve_pipelines([pipeline_name])
            if self.processing_pipeline:
                pipeline += self.processing_pipeline
            self._by_pipeline[name] = UpstreamKustoBackend(
                processing_pipeline=pipeline, collect_errors=self.collect_errors, **self.backend_options
            )
        return self._by_pipeline[name]

    @staticmethod
    def _choices(rule: SigmaRule) -> list[str]:
        """The pipelines to try for this rule, in order (a table of our own where none maps the log source)."""
        table = TABLES.get((rule.logsource.product, rule.logsource.service))
        return [*PIPELINES, f"azure_monitor:{table}"] if table else list(PIPELINES)

    def convert_rule(self, rule: SigmaRule, output_format: str | None = None, callback: Any = None) -> list[Any]:
        """The first pipeline that converts the rule (finds a table holding its fields) gives the query."""
        reasons: dict[str, str] = {}
        for name in self._choices(rule):
            try:
                queries = self._backend(name).convert_rule(copy.deepcopy(rule), output_format)
            except Exception as exc:  # the next pipeline may map the log source to a table that has the rule's fields
                self._by_pipeline.pop(name, None)  # a failed conversion leaves state behind in the upstream backend
                reasons[name] = "no table for this log source" if NO_TABLE in str(exc) else " ".join(str(exc).split()).split(". ")[0][:160]
                continue
            how = f"-p {name}" if ":" not in name else f"-p azure_monitor (query table {name.partition(':')[2]})"
            return [f"// sigma convert -t kusto {how}\n{query}" for query in queries]
        source = rule.logsource
        spec = " ".join(
            f"{key}={value}"
            for key, value in (("product", source.product), ("category", source.category), ("service", source.service))
            if value
        )
        if all(reason == "no table for this log source" for reason in reasons.values()):
            raise SigmaFeatureNotSupportedByBackendError(
                f"kusto target: no Kusto pipeline maps the log source {spec or '(empty)'} to a table (tried {', '.join(reasons)})"
            )
        raise SigmaFeatureNotSupportedByBackendError(
            f"kusto target: no Kusto pipeline converts the log source {spec or '(empty)'}: "
            + "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
        )
