--[[
  Lists as sets: membership, and who is added, removed and kept between two lists.
]]
local function as_set(list)
  local set = {}
  for _, item in ipairs(list) do set[item] = true end
  return set
end

local function contains(list, value)
  for _, item in ipairs(list) do if item == value then return true end end
  return false
end

-- Who is added, removed and kept when a meeting's participants go from `old` to `new`.
local function split_participants(old, new)
  local was_in, is_in = as_set(old), as_set(new)
  local added, removed, kept = {}, {}, {}
  for _, uid in ipairs(new) do
    if was_in[uid] then kept[#kept + 1] = uid else added[#added + 1] = uid end
  end
  for _, uid in ipairs(old) do
    if not is_in[uid] then removed[#removed + 1] = uid end
  end
  return added, removed, kept
end
