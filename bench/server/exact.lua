-- wrk script: exact queries (the 10 newest packets) at one of 1,000 addresses, at random.
-- Usage: wrk ... -s exact.lua URL -- TOKEN
local token = ""

function init(args)
  token = args[1] or ""
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local path = string.format("/v1/addresses/%032x/packets?limit=10", math.random(0, 999))
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
