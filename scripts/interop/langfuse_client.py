"""The Langfuse SDK, exporting a generation over OTLP with Basic auth (the
password an ingest key), uncompressed and gzipped.

Usage: langfuse_client.py SERVICE_URL INGEST_KEY ACCOUNT COMPRESSION"""

import sys

from langfuse import Langfuse, propagate_attributes

service, key, account, compression = sys.argv[1:5]
lf = Langfuse(public_key="pk-lf-interop", secret_key=key, base_url=service, environment="interop",
              otel_compression=compression)
with propagate_attributes(user_id=account, session_id=f"{account}-session"):
    with lf.start_as_current_observation(as_type="generation", name="chat-completion", model="gpt-4o-mini",
                                         model_parameters={"temperature": 0.3, "max_tokens": 256},
                                         input=[{"role": "user", "content": f"Name three rivers ({compression})."}]) as g:
        g.update(output={"role": "assistant", "content": "The Nile, the Amazon, the Danube."},
                 usage_details={"input": 11, "output": 9})
lf.flush()
lf.shutdown()
