"""Streams deepseek-reasoner and glm-chat at the same time through the official openai client,
then checks the OpenAI contract the way the SDK sees it.

Usage: openai_parallel.py BASE_URL [DEMO_LOG]   (e.g. http://127.0.0.1:7777/v1)

Waits (up to 90 s) for the demo to answer /v1/models, then runs both streams in threads and
checks: each stream has content and a finish_reason of "stop"; the reasoner's content starts
with exactly "<think>" and closes it; glm-chat has no thinking; the two streams overlapped in
time (they ran on different lanes at once).

Then: the README's example loop runs on every provider's IDs; the usage chunk comes only with
`stream_options.include_usage`; `max_tokens` ends with `length` and a stop sequence split across
two chunks is cut exactly, the replica seeing the site's Stop for both (read from the replica
log named in DEMO_LOG's banner); `n: 3` is a 400.
"""

import json
import re
import sys
import threading
import time
import urllib.request

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


def readme_example(model):
    """The README's loop, as written: it would fail on a chunk without choices."""
    out = []
    for chunk in client.chat.completions.create(model=model, stream=True,
            messages=[{"role": "user", "content": "Hi"}]):
        out.append(chunk.choices[0].delta.content or "")
    return "".join(out)


prefixes = sorted({i[: -len("-auto")] for i in ids if i.endswith("-auto") and "expert" not in i})
for prefix in prefixes:
    for mode in ("auto", "chat", "reasoner"):
        text = readme_example(f"{prefix}-{mode}")
        assert "Echo [" in text, (prefix, mode, text)
print(f"  the README example ran on {', '.join(prefixes)} (-auto, -chat, -reasoner)")

hi = [{"role": "user", "content": "count me"}]
chunks = list(client.chat.completions.create(model="glm-chat", stream=True, messages=hi))
assert all(c.choices for c in chunks), "a usage chunk nobody asked for"
chunks = list(client.chat.completions.create(model="deepseek-chat", stream=True, messages=hi,
        stream_options={"include_usage": True}))
last = chunks[-1]
assert last.choices == [] and last.usage and last.usage.total_tokens > 0, last
assert all(c.choices for c in chunks[:-1])
print(f"  include_usage: off gives no usage chunk, on gives {last.usage.total_tokens} tokens")

replicas = {}
if len(sys.argv) > 2:
    with open(sys.argv[2], encoding="utf-8") as f:
        banner = re.search(r"replica sites\s*:\s*(.*)", f.read())
    if banner:
        replicas = dict(pair.split("=", 1) for pair in banner.group(1).split())


def site_saw_stop(prefix, tag):
    """Polls the replica's log (up to 10 s) for the request whose prompt carries `tag`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{replicas[prefix]}/__replica/requests") as r:
            log = json.load(r)
        mine = [e for e in log if tag in e["prompt"]]
        if mine and mine[0]["stop_called"]:
            return True
        time.sleep(0.1)
    return False


long = "replica:chunks=40 replica:delay_ms=30"
finish, text = None, ""
for chunk in client.chat.completions.create(model="glm-chat", stream=True, max_tokens=3,
        messages=[{"role": "user", "content": f"[max-tokens] {long}"}]):
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
assert finish == "length" and text.startswith("Echo"), (finish, text)
text = ""
for chunk in client.chat.completions.create(model="glm-chat", stream=True, stop=["never", "2 w3"],
        messages=[{"role": "user", "content": f"[stop-seq] {long}"}]):
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
assert finish == "stop" and text.endswith(f"{long} w1 w"), (finish, text)
if replicas:
    assert site_saw_stop("glm", "[max-tokens]"), "the site never saw Stop after max_tokens"
    assert site_saw_stop("glm", "[stop-seq]"), "the site never saw Stop after the stop sequence"
print("  max_tokens ends with length, a split stop sequence is cut exactly"
      + (", the site saw Stop for both" if replicas else ""))

try:
    client.chat.completions.create(model="glm-chat", n=3, messages=hi)
    sys.exit("n=3 was accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400 and "n: 1" in e.message, e
print("  n=3 is a 400")
