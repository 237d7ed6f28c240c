"""EquiNet: 涨/跌/稳 probabilities for A-share stocks from TDX daily-bar exports."""

from equinet.data.ingest import IngestResult, ingest
from equinet.data.store import Store, open_store
from equinet.data.synth import synth

__all__ = ["ingest", "IngestResult", "open_store", "Store", "synth"]
