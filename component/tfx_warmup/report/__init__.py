"""The warmup report: typed sections (`model`), their JSON, and the terminal's text (`text`)."""

from tfx_warmup.report.model import BatchingSection
from tfx_warmup.report.model import batching_section
from tfx_warmup.report.model import ColdStartRow
from tfx_warmup.report.model import ColdStartSection
from tfx_warmup.report.model import RecordCount
from tfx_warmup.report.model import SampleSection
from tfx_warmup.report.model import SCHEMA_VERSION
from tfx_warmup.report.model import schema_markdown
from tfx_warmup.report.model import SignaturesSection
from tfx_warmup.report.model import StrippingSection
from tfx_warmup.report.model import ValidationSection
from tfx_warmup.report.model import warmup_file_section
from tfx_warmup.report.model import WarmupFileSection
from tfx_warmup.report.model import WarmupReport
from tfx_warmup.report.text import format_report
from tfx_warmup.report.text import format_summary
from tfx_warmup.report.text import format_table
