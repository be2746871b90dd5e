"""Calls through a LiteLLM proxy as a tenant makes them, with the official
OpenAI SDK: a chat with sampling parameters and an end user, a streamed
chat, and a call whose upstream is down (a failure event).

Usage: litellm_calls.py PROXY_URL VIRTUAL_KEY END_USER"""

import sys

from openai import OpenAI

proxy, key, end_user = sys.argv[1:4]
client = OpenAI(base_url=f"{proxy}/v1", api_key=key)
client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "system", "content": "You are a tutor."},
              {"role": "user", "content": "Prove that the square root of two is irrational."}],
    temperature=0.4, max_tokens=200, n=2, logprobs=True, top_logprobs=2, seed=11, user=end_user,
)
stream = client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Stream a haiku about rivers."}], stream=True,
    user=end_user,
)
for _ in stream:
    pass
try:
    client.chat.completions.create(model="broken-upstream", messages=[{"role": "user", "content": "hello?"}])
except Exception:
    pass
