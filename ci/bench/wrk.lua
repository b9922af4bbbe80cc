-- One endpoint of the benchmark: method, path, token and body(s) come from the environment.
-- BENCH_BODY2, when set, alternates with BENCH_BODY (a probe toggled on and off).
local function env(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end
local bodies = { env("BENCH_BODY") }
if env("BENCH_BODY2") then bodies[2] = env("BENCH_BODY2") end
local method = env("BENCH_METHOD") or "GET"
local path = env("BENCH_PATH")
local token = env("BENCH_TOKEN")
local n = 0

request = function()
  n = n + 1
  local headers = { ["access_token"] = token }
  local body = nil
  if #bodies > 0 then body = bodies[(n % #bodies) + 1] end
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(method, path, headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
