#!/usr/bin/env python3
"""Writes the canonical events of gen_events.py in each gateway format that
`distillwatch ingest --format` reads, the same calls in each, so that the
formats' ingest speed can be compared with the canonical path's on the same
content (issue #22: each format at 0.8 of the canonical path or better).

    python3 scripts/bench/to_formats.py bench-out/events.jsonl bench-out/formats

writes formats/openai.jsonl (Chat Completions request/response pairs, the
account as the request's `user`), formats/litellm.jsonl (StandardLoggingPayload,
one per line, the account as the virtual key's hash) and formats/otlp.jsonl
(OTLP/HTTP JSON export requests, as a Collector's file exporter writes them, 100
model-call spans a request in the current GenAI convention, the account as
`user.id` on the span).
"""
import calendar
import json
import os
import sys
import time


def seconds(ts):
    # 2026-11-01T12:34:56.789Z
    base, frac = ts.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000


def completion(e, t):
    """The Chat Completions response that answered event `e` at time `t`."""
    return {
        "id": e["event_id"],
        "object": "chat.completion",
        "created": int(t),
        "model": e["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": e["response"]["content"]},
                     "finish_reason": e["response"]["finish_reason"]}],
        "usage": e["usage"],
    }


def openai(e, t):
    request = {"model": e["model"], "messages": e["request"]["messages"], "user": e["account_id"]}
    for k in ("temperature", "top_p", "max_tokens", "n", "logprobs"):
        if e["request"].get(k) is not None:
            request[k] = e["request"][k]
    return {
        "request": request,
        "response": completion(e, t),
    }


def litellm(e, t):
    params = {k: e["request"][k] for k in ("temperature", "top_p", "max_tokens", "n") if e["request"].get(k) is not None}
    return {
        "id": e["event_id"],
        "call_type": "acompletion",
        "status": "success",
        "startTime": t,
        "endTime": t + 1.5,
        "model": e["model"],
        "model_group": e["model"],
        "messages": e["request"]["messages"],
        "model_parameters": params,
        "response": completion(e, t),
        "requester_ip_address": e["client"]["ip"],
        "metadata": {"user_api_key_hash": e["account_id"], "user_agent": e["client"]["user_agent"]},
        "session_id": e["conversation_id"],
    }


def attr(key, value):
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def span(e, t, i):
    nanos = int(t * 1e9)
    messages = [{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
                for m in e["request"]["messages"] if m["role"] != "system"]
    system = [m["content"] for m in e["request"]["messages"] if m["role"] == "system"]
    attributes = [
        attr("gen_ai.operation.name", "chat"),
        attr("gen_ai.provider.name", "openai"),
        attr("gen_ai.request.model", e["model"]),
        attr("gen_ai.response.id", e["event_id"]),
        attr("user.id", e["account_id"]),
        attr("session.id", e["conversation_id"]),
        attr("client.address", e["client"]["ip"]),
        attr("user_agent.original", e["client"]["user_agent"]),
        attr("gen_ai.request.temperature", float(e["request"]["temperature"])),
        attr("gen_ai.request.max_tokens", e["request"]["max_tokens"]),
        attr("gen_ai.usage.input_tokens", e["usage"]["prompt_tokens"]),
        attr("gen_ai.usage.output_tokens", e["usage"]["completion_tokens"]),
        attr("gen_ai.input.messages", json.dumps(messages, ensure_ascii=False)),
        attr("gen_ai.output.messages", json.dumps([{"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "text", "content": e["response"]["content"]}]}], ensure_ascii=False)),
    ]
    if system:
        attributes.append(attr("gen_ai.system_instructions", json.dumps([{"type": "text", "content": system[0]}])))
    return {
        "traceId": f"{i:032x}",
        "spanId": f"{i:016x}",
        "name": f"chat {e['model']}",
        "kind": 3,
        "startTimeUnixNano": str(nanos),
        "endTimeUnixNano": str(nanos + 1_500_000_000),
        "attributes": attributes,
    }


def main():
    source, folder = sys.argv[1], sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    spans = []
    with open(source, encoding="utf-8") as f, \
            open(f"{folder}/openai.jsonl", "w", encoding="utf-8") as o, \
            open(f"{folder}/litellm.jsonl", "w", encoding="utf-8") as l, \
            open(f"{folder}/otlp.jsonl", "w", encoding="utf-8") as s:
        def flush():
            request = {"resourceSpans": [{"resource": {"attributes": [attr("service.name", "bench")]},
                                          "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]}
            s.write(json.dumps(request, ensure_ascii=False) + "\n")
            spans.clear()
        for i, line in enumerate(f):
            e = json.loads(line)
            t = seconds(e["timestamp"])
            o.write(json.dumps(openai(e, t), ensure_ascii=False) + "\n")
            l.write(json.dumps(litellm(e, t), ensure_ascii=False) + "\n")
            spans.append(span(e, t, i + 1))
            if len(spans) == 100:
                flush()
        if spans:
            flush()


if __name__ == "__main__":
    main()
