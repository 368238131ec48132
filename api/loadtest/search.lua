-- wrk script: GET /search over the SciFact test queries, one after another
-- per connection, in the mode given by the MODE environment variable
-- (bm25, dense or hybrid; default bm25).
--
--   wrk -t2 -c16 -d30s --latency -s api/loadtest/search.lua http://127.0.0.1:8080
--
-- The queries are read from data/scifact/queries.jsonl (the ids of
-- qrels/test.tsv), so run it from the repository root.
local mode = os.getenv("MODE") or "bm25"
local queries = {}

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local test = {}
for line in io.lines("data/scifact/qrels/test.tsv") do
  local id = line:match("^(%S+)\t")
  if id and id ~= "query-id" then test[id] = true end
end
for line in io.lines("data/scifact/queries.jsonl") do
  local id = line:match('"_id"%s*:%s*"([^"]*)"')
  local text = line:match('"text"%s*:%s*"(.-)"%s*[,}]')
  if id and text and test[id] then
    table.insert(queries, "/search?k=10&mode=" .. mode .. "&q=" .. urlencode(text))
  end
end
if #queries == 0 then error("no queries read from data/scifact") end

local i = 0
function setup(thread)
  thread:set("offset", math.floor(#queries / 2) * (i % 2))
  i = i + 1
end

local n = 0
function request()
  n = n + 1
  return wrk.format("GET", queries[(n + (offset or 0)) % #queries + 1])
end

function done(summary, latency, requests)
  io.write(string.format("mode %s: %d queries rotated, %d requests, %d errors (status %d, timeout %d)\n",
    mode, #queries, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    summary.errors.status, summary.errors.timeout))
end
