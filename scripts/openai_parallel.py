"""Streams deepseek-reasoner and glm-chat at the same time through the official openai client.

Usage: openai_parallel.py BASE_URL   (e.g. http://127.0.0.1:7777/v1)

Waits (up to 90 s) for the demo to answer /v1/models, then runs both streams in threads and
checks: each stream has content and a finish_reason of "stop"; the reasoner's content starts
with exactly "<think>" and closes it; glm-chat has no thinking; the two streams overlapped in
time (they ran on different lanes at once).
"""

import sys
import threading
import time

import openai

base = sys.argv[1]
client = openai.OpenAI(base_url=base, api_key="unused")

deadline = time.monotonic() + 90
while True:
    try:
        ids = [m.id for m in client.models.list()]
        break
    except openai.APIConnectionError:
        if time.monotonic() > deadline:
            sys.exit("the demo did not come up within 90 s")
        time.sleep(0.25)
assert "deepseek-reasoner" in ids and "glm-chat" in ids, ids

results = {}


def run(model):
    first = last = None
    text = []
    finish = None
    stream = client.chat.completions.create(
        model=model,
        stream=True,
        messages=[{"role": "user", "content": f"Hello from the openai client to {model}"}],
    )
    for chunk in stream:
        now = time.monotonic()
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.delta.content:
            first = first or now
            last = now
            text.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
    results[model] = {"first": first, "last": last, "text": "".join(text), "finish": finish}


threads = [threading.Thread(target=run, args=(m,)) for m in ("deepseek-reasoner", "glm-chat")]
for t in threads:
    t.start()
for t in threads:
    t.join()

ds, glm = results["deepseek-reasoner"], results["glm-chat"]
for model, r in results.items():
    assert r["finish"] == "stop", (model, r)
    assert "Echo [" in r["text"], (model, r["text"])
assert ds["text"].startswith("<think>") and "</think>" in ds["text"], ds["text"]
assert "<think>" not in glm["text"], glm["text"]
assert ds["first"] < glm["last"] and glm["first"] < ds["last"], "the streams did not overlap"
print(f"openai {openai.__version__}: deepseek-reasoner and glm-chat streamed in parallel")
for model, r in results.items():
    print(f"  {model}: {len(r['text'])} chars in {r['last'] - r['first']:.2f}s, finish={r['finish']}")
