"""The OpenTelemetry SDK with the official OpenAI instrumentation, exporting
OTLP/HTTP protobuf to distillwatch: each call under a parent span that names
the account (user.id) and the session, as an app's request handler does.

Usage: otel_openai.py SERVICE_URL INGEST_KEY UPSTREAM_URL ACCOUNT
The convention (older: messages as log records; current: on the span) comes
from the environment, as in any deployment (OTEL_SEMCONV_STABILITY_OPT_IN,
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT).

Two calls: the first flushed while its parent is still open (the parent then
arrives in a later export, as a batch exporter's timer does it), the second
exported with its parent."""

import sys

from openai import OpenAI
from opentelemetry import _logs, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

service, key, upstream, account = sys.argv[1:5]
headers = {"authorization": f"Bearer {key}"}
resource = Resource.create({"service.name": "interop-app"})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{service}/v1/traces", headers=headers)))
trace.set_tracer_provider(tracer_provider)
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{service}/v1/logs", headers=headers)))
_logs.set_logger_provider(logger_provider)
OpenAIInstrumentor().instrument()

client = OpenAI(base_url=upstream, api_key="sk-fake")
tracer = trace.get_tracer("interop-app")
for i, flush_inside in enumerate([True, False]):
    with tracer.start_as_current_span("handle-request") as parent:
        parent.set_attribute("user.id", account)
        parent.set_attribute("session.id", f"{account}-session")
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "be terse"},
                      {"role": "user", "content": f"Explain step by step, case {i}: 17*23"}],
            temperature=0.2, max_tokens=64, seed=7,
        )
        if flush_inside:
            logger_provider.force_flush()
            tracer_provider.force_flush()
logger_provider.force_flush()
tracer_provider.force_flush()
tracer_provider.shutdown()
logger_provider.shutdown()
