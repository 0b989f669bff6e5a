"""pySigma backends for the query languages pySigma itself does not ship."""

from atc.convert.backends.graylog import GraylogBackend
from atc.convert.backends.grep import GrepBackend
from atc.convert.backends.kusto import KustoBackend
from atc.convert.backends.lucene import LuceneBackend
from atc.convert.backends.powershell import PowerShellBackend
from atc.convert.backends.splunk_spl2 import SplunkSPL2Backend
from atc.convert.backends.sqlite import SQLiteBackend
from atc.convert.backends.watcher import WatcherBackend

__all__ = [
    "GraylogBackend",
    "GrepBackend",
    "KustoBackend",
    "LuceneBackend",
    "PowerShellBackend",
    "SplunkSPL2Backend",
    "SQLiteBackend",
    "WatcherBackend",
]
