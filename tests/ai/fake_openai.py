"""A scripted OpenAI-compatible chat server on loopback: the protocol-level fake of a hosted LLM.

Each request is answered by the next scripted action for its kind (`classify` or `draft`, told
apart by the system prompt): a reply, an HTTP error status, a delay, or garbage.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Action:
    """One scripted answer: `content` (200), `status` (an error), `delay` seconds first."""

    content: str | None = None
    status: int = 200
    delay: float = 0.0


@dataclass
class FakeOpenAI:
    """Serves `/v1/chat/completions` until closed; records every request it got."""

    scripts: dict[str, deque[Action]] = field(default_factory=lambda: defaultdict(deque))
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                system = body["messages"][0]["content"]
                kind = "draft" if "SMS reply" in system else "classify"
                queue = fake.scripts[kind]
                action = queue.popleft() if queue else Action(status=500)
                time.sleep(action.delay)
                if action.status != 200:
                    self._send(action.status, {"error": {"message": "scripted", "type": "x"}})
                    return
                self._send(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": action.content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage(body, action.content or ""),
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (…/v1)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def script(self, kind: str, *actions: Action) -> None:
        """Queue answers for `classify` or `draft` requests."""
        self.scripts[kind].extend(actions)

    def count(self, kind: str) -> int:
        """How many requests of a kind arrived."""
        return sum(
            1
            for r in self.requests
            if ("SMS reply" in r["messages"][0]["content"]) == (kind == "draft")
        )

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def usage(body: dict[str, Any], content: str) -> dict[str, int]:
    """Token counts the way a real server reports them (about four characters a token)."""
    prompt = sum(len(m["content"]) for m in body["messages"]) // 4
    completion = max(1, len(content) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip


def classification(intent: str, *, confidence: float = 0.95, **flags: Any) -> str:
    """The JSON a well-behaved model answers to the classification prompt."""
    return json.dumps(
        {
            "intent": intent,
            "confidence": confidence,
            "needs_human": flags.get("needs_human", False),
            "revocation_intent": flags.get("revocation_intent", False),
            "language": flags.get("language", "en"),
        }
    )
