-- Counts wrk's responses by status class and prints them as one line that
-- bench/run.py parses: "STATUSES 1xx=.. 2xx=.. 3xx=.. 4xx=.. 5xx=..".
--
-- wrk only reports "Non-2xx or 3xx responses" on its own, which cannot tell a
-- 404 from a 500. Defining response() has a price: wrk then parses every
-- response in Lua and sends fewer requests per second. The ceiling is measured
-- with this same script, so every ratio to the ceiling pays the same price.

-- Each wrk thread runs its own Lua state; setup() runs in the main state once
-- per thread, so keeping the thread handles here lets done() read their counters.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

-- Globals, not locals: thread:get() can only read a thread's globals.
function init(args)
    counts = { 0, 0, 0, 0, 0 }
end

function response(status, headers, body)
    local class = math.floor(status / 100)
    if class >= 1 and class <= 5 then
        counts[class] = counts[class] + 1
    end
end

function done(summary, latency, requests)
    local totals = { 0, 0, 0, 0, 0 }
    for _, thread in ipairs(threads) do
        local counted = thread:get("counts")
        for class = 1, 5 do
            totals[class] = totals[class] + counted[class]
        end
    end
    io.write(string.format(
        "STATUSES 1xx=%d 2xx=%d 3xx=%d 4xx=%d 5xx=%d\n",
        totals[1], totals[2], totals[3], totals[4], totals[5]
    ))
end
