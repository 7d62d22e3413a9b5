-- wrk script: exact queries (the 10 newest packets) at one of 1,000 addresses, at random.
-- Usage: wrk ... -s exact.lua URL -- TOKEN [ACCEPT]   (ACCEPT: application/json or application/msgpack)
local token, accept = "", "application/json"

function init(args)
  token = args[1] or ""
  accept = args[2] or "application/json"
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local path = string.format("/v1/addresses/%032x/packets?limit=10", math.random(0, 999))
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token, ["Accept"] = accept })
end
