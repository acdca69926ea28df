-- Mixed-workload driver for wrk (tests/load). The harness prepends a `cfg` table:
--   cfg.host        Host header
--   cfg.prefix      X-Request-ID prefix of this endpoint ("ld-evaluate-3" ...)
--   cfg.interval_ms per-thread gap between two requests for a fixed rate (0: as fast as possible)
--   cfg.ids_file    where each thread writes the request ids answered with a 2xx (or nil)
--   cfg.seed        random seed
--   cfg.requests    { {method, path, headers (each "Name: value\r\n"), body}, ... }
-- Each request is a random pick from cfg.requests, tagged with a unique X-Request-ID that
-- SARK stores on its audit rows, so the harness can match answers to audit events.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } sark_load_timeval;
int gettimeofday(sark_load_timeval *tv, void *tz);
]]
local tv = ffi.new("sark_load_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

local pool, size, seq, prefix, out, next_at
statuses = {}

function init(args)
  prefix = cfg.prefix .. "-" .. tostring(tid) .. "-"
  pool = {}
  for i, r in ipairs(cfg.requests) do
    local body = r[4] or ""
    local head = r[1] .. " " .. r[2] .. " HTTP/1.1\r\nHost: " .. cfg.host .. "\r\n" .. r[3]
    if #body > 0 then head = head .. "Content-Length: " .. #body .. "\r\n" end
    pool[i] = { head .. "X-Request-ID: ", "\r\n\r\n" .. body }
  end
  size = #pool
  seq = 0
  math.randomseed(cfg.seed + tid)
  if cfg.ids_file then
    out = io.open(cfg.ids_file .. "." .. tostring(tid), "w")
    out:setvbuf("line")
  end
end

function request()
  seq = seq + 1
  local r = pool[math.random(size)]
  return r[1] .. prefix .. seq .. r[2]
end

if cfg.interval_ms > 0 then
  -- A fixed rate: each request of this thread claims the next slot of a schedule
  -- (wrk measures latency from the moment the request is written, after the delay).
  function delay()
    local now = now_ms()
    if next_at == nil or next_at < now - 1000 then next_at = now end
    local wait = next_at - now
    next_at = next_at + cfg.interval_ms
    if wait < 0 then return 0 end
    return math.floor(wait)
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if out and status >= 200 and status < 300 then
    local id = headers["x-request-id"] or headers["X-Request-ID"] or headers["X-Request-Id"]
    if id then out:write(id, "\n") end
  end
end
