-- Replays the requests of a file (env BENCH_REQUESTS), one "METHOD path [JSON body]" per
-- line, round robin from a different place in each thread. done() prints the run's numbers
-- as one "BENCH_RESULT {json}" line for bench/load.py.

local thread_count = 0

function setup(thread)
   thread:set("offset", thread_count)
   thread_count = thread_count + 1
end

function init(args)
   local file = assert(io.open(os.getenv("BENCH_REQUESTS"), "r"))
   requests = {}
   for line in file:lines() do
      local method, path, body = line:match("^(%u+) (%S+) ?(.*)$")
      local headers = {}
      if body == "" then
         body = nil
      else
         headers["Content-Type"] = "application/json"
      end
      requests[#requests + 1] = wrk.format(method, path, headers, body)
   end
   file:close()
   index = (offset * 7919) % #requests
end

function request()
   index = index % #requests + 1
   return requests[index]
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "connect": %d, "read": %d,'
         .. ' "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d,'
         .. ' "max_us": %d}\n',
      summary.requests, summary.duration, errors.connect, errors.read, errors.write,
      errors.status, errors.timeout, latency:percentile(50), latency:percentile(99),
      latency.max))
end
