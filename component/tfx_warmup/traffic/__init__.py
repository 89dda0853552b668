"""Serving traffic logs: read them (`logs`), in the formats users have (`formats`).

What clients really send is what a warmup should cover, and what a new version must
keep answering. TF Serving logs no requests, so users log around it (a gateway, Vertex
AI, SageMaker, KServe, BulkInferrer's PredictionLogs); this part reads those logs into
`LogEntry`s, the requests as sent, and `NotARequest`s, the lines that hold none
(`logs`, `formats`); reads each against a model as TF Serving would have received it
(`requests`); and counts them with Beam into a `TrafficProfile` (`profile`).
"""

from tfx_warmup.traffic.entry import LogEntry
from tfx_warmup.traffic.entry import LoggedRequest
from tfx_warmup.traffic.entry import NotARequest
from tfx_warmup.traffic.entry import TrafficKey
from tfx_warmup.traffic.formats import FORMATS
from tfx_warmup.traffic.formats import Format
from tfx_warmup.traffic.logs import MAX_LINE_BYTES
from tfx_warmup.traffic.logs import TrafficFile
from tfx_warmup.traffic.logs import TrafficFiles
from tfx_warmup.traffic.logs import read_entries
from tfx_warmup.traffic.logs import resolve_traffic
from tfx_warmup.traffic.profile import DEFAULT_SAMPLE_SIZE
from tfx_warmup.traffic.profile import ProfileTraffic
from tfx_warmup.traffic.profile import TrafficProfile
from tfx_warmup.traffic.profile import profile_entries
from tfx_warmup.traffic.requests import UnknownApiError
from tfx_warmup.traffic.requests import logged_request
