"""The comparison server: what a team would write instead of bo1d, with FastAPI + uvicorn.

Serves the same GET /health and a POST /api/v1/sessions that does the same Redis work as
bo1d's create (one Lua script: per-key rate counter, session hash, owner index, the
`session.status created` event on the session's stream, a PUBLISH), with the same checks:
bearer key (hashed), JSON body validated by pydantic (unknown fields rejected, statement
10-10000 characters), 201 with the session document. Run by bench/compare.sh.
Environment: REDIS_URL, BO1_API_KEYS (comma-separated), RATE_PER_MIN.
"""
import hashlib
import json
import os
import secrets
import time
from typing import List, Optional

import redis.asyncio as aioredis
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Extra, Field

STARTED = time.time()
KEYS = {hashlib.sha256(k.encode()).hexdigest()
        for k in os.environ.get("BO1_API_KEYS", "").split(",") if k}
RATE = int(os.environ.get("RATE_PER_MIN", "100000"))
CREATE = """
local rl = redis.call('INCR', KEYS[4])
if rl == 1 then redis.call('PEXPIRE', KEYS[4], 60000) end
if rl > tonumber(ARGV[4]) then return {'RATE_LIMITED'} end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'owner', ARGV[3], 'status', 'created',
           'created', ARGV[5], 'updated', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 20000, '*', 'e', ARGV[6])
redis.call('PUBLISH', 'bo1:{' .. ARGV[1] .. '}:notify', 'event')
return {'OK'}
"""


class Problem(BaseModel, extra=Extra.forbid):
    statement: str = Field(min_length=10, max_length=10000)
    context: Optional[dict] = None
    constraints: Optional[List[str]] = Field(default=None, max_items=10)


class Options(BaseModel, extra=Extra.forbid):
    personas: Optional[List[str]] = Field(default=None, max_items=5)
    max_rounds: Optional[int] = Field(default=None, ge=1, le=10)
    budget_usd: float = Field(default=2.0, ge=0.01, le=100)
    clarify: bool = True
    start: bool = True


class CreateBody(BaseModel, extra=Extra.forbid):
    problem: Problem
    options: Options = Options()


app = FastAPI()
pool = aioredis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
create_script = pool.register_script(CREATE)


def owner_of(authorization: Optional[str]) -> str:
    if not KEYS:
        return "anonymous"
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "missing or invalid API key")
    h = hashlib.sha256(authorization[7:].encode()).hexdigest()
    if h not in KEYS:
        raise HTTPException(401, "missing or invalid API key")
    return h[:16]


@app.get("/health")
async def health():
    return {"status": "ok", "version": "0.1.0", "uptime_s": int(time.time() - STARTED)}


@app.post("/api/v1/sessions", status_code=201)
async def create(body: CreateBody, authorization: Optional[str] = Header(default=None)):
    owner = owner_of(authorization)
    sid = secrets.token_urlsafe(16)
    now_ms = int(time.time() * 1000)
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_ms / 1000)) + f".{now_ms % 1000:03d}Z"
    doc = {"id": sid, "problem": body.problem.dict(), "options": body.options.dict(),
           "status": "created", "created_at": iso, "updated_at": iso,
           "links": {"self": f"/api/v1/sessions/{sid}"}}
    doc_text = json.dumps(doc, separators=(",", ":"))
    ev = json.dumps({"type": "session.status", "session_id": sid, "ts": iso,
                     "data": {"status": "created"}}, separators=(",", ":"))
    r = await create_script(
        keys=[f"bo1:{{{sid}}}:session", f"bo1:{{{sid}}}:events",
              f"bo1:owner:{owner}:sessions", f"bo1:rl:create:{owner}"],
        args=[sid, doc_text, owner, RATE, now_ms, ev])
    if r[0] != b"OK":
        return JSONResponse({"type": "/problems/rate-limited", "title": "too many requests",
                             "status": 429, "detail": "create rate exceeded",
                             "code": "RATE_LIMITED"}, status_code=429,
                            headers={"Retry-After": "1"},
                            media_type="application/problem+json")
    return doc
