-- wrk script: batched deposits of fresh packets (new UUID v7 ids, so every packet is really
-- stored), spread over 1,000 addresses. Usage: wrk ... -s deposit.lua URL -- TOKEN AGENT [BATCH]
local token, agent = "", "bench"
local batch = 100

function init(args)
  token = args[1] or ""
  agent = args[2] or "bench"
  batch = tonumber(args[3] or "100")
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

local function hex(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end

local function uuid7()
  return hex(8) .. "-" .. hex(4) .. "-7" .. hex(3) .. "-" ..
    string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(12)
end

function request()
  local now = os.time() * 1000
  local parts = {}
  for i = 1, batch do
    parts[i] = string.format(
      '{"packet":{"id":"%s","agent":"%s","domain":"bench","address":"%032x","outcome":"resolved",' ..
      '"confidence":0.8,"result":{"dose_mg":5,"protocol":"once_weekly"},"summary":"load test","created":%d}}',
      uuid7(), agent, math.random(0, 999), now)
  end
  local body = '{"packets":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/v1/packets",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
end
