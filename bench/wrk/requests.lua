-- One operation of bench/api_load.py: each wrk thread cycles through its own file of requests
-- (`<prefix>.<thread>`: METHOD TAB PATH TAB HEADERS TAB BODY, headers as `Name: value|...`), in
-- order, so a thread with one connection can run a sequence (submit, approve, reopen).
-- args: prefix, think time in ms (0: unpaced). A paced user waits 0.5-1.5x the think time after
-- each answer. done() prints one line, WRK_RESULT {json}, for the Python side.

local counter = 0
local requests = {}
local at = 0
local think_ms = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local function split(text, separator)
  local parts = {}
  for part in (text .. separator):gmatch("(.-)" .. separator:gsub("%p", "%%%0")) do
    parts[#parts + 1] = part
  end
  return parts
end

function init(args)
  think_ms = tonumber(args[2]) or 0
  math.randomseed(tid * 7919)
  local file = assert(io.open(args[1] .. "." .. tid, "r"))
  for line in file:lines() do
    local fields = split(line, "\t")
    local headers = {}
    if fields[3] ~= "" then
      for _, header in ipairs(split(fields[3], "|")) do
        local name, value = header:match("^([^:]+):%s*(.*)$")
        headers[name] = value
      end
    end
    local body = nil
    if fields[4] ~= nil and fields[4] ~= "" then
      body = fields[4]
      headers["Content-Type"] = "application/json"
    end
    requests[#requests + 1] = wrk.format(fields[1], fields[2], headers, body)
  end
  file:close()
  if tid == 1 then
    -- wrk calls the first thread's request() once before it connects (to count pipelined
    -- requests) and never sends that one: start one back, so the first sent is the first line.
    at = #requests - 1
  end
end

function request()
  at = at % #requests + 1
  return requests[at]
end

function delay()
  if think_ms <= 0 then
    return 0
  end
  return math.floor(think_ms * (0.5 + math.random()))
end

function done(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
