"""The OTLP/HTTP JSON exporter, sending a model-call span with the GenAI
attributes of the current convention set by hand (the account on the span).

Usage: otlp_json.py SERVICE_URL INGEST_KEY ACCOUNT"""

import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

service, key, account = sys.argv[1:4]
provider = TracerProvider(resource=Resource.create({"service.name": "interop-json"}))
exporter = OTLPSpanExporter(endpoint=f"{service}/v1/traces", headers={"authorization": f"Bearer {key}"})
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("interop-json")
with tracer.start_as_current_span("chat gpt-4o-mini") as span:
    span.set_attribute("gen_ai.operation.name", "chat")
    span.set_attribute("gen_ai.provider.name", "openai")
    span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    span.set_attribute("gen_ai.request.temperature", 0.0)
    span.set_attribute("gen_ai.request.max_tokens", 128)
    span.set_attribute("user.id", account)
    span.set_attribute("client.address", "203.0.113.9")
    span.set_attribute("user_agent.original", "interop-json/1.0")
    span.set_attribute("gen_ai.input.messages", json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "Summarise the plot of Hamlet in three lines."}]}]))
    span.set_attribute("gen_ai.output.messages", json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "A prince, a ghost, a tragedy."}],
          "finish_reason": "stop"}]))
    span.set_attribute("gen_ai.usage.input_tokens", 14)
    span.set_attribute("gen_ai.usage.output_tokens", 9)
provider.force_flush()
provider.shutdown()
