//! The store's server-side Lua scripts: each runs atomically in Redis, so a check and
//! the write that depends on it cannot be split by another replica.

use std::sync::LazyLock;

use redis::Script;

/// Releases a fleet lock only if this replica still owns it: after the lock expired
/// and another replica took it, a plain `DEL` would release the other's lock.
/// `KEYS[1]` the lock, `ARGV[1]` the owner value. Returns 1 if released, 0 if not.
pub(crate) static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// The fleet-wide GCRA (see [`rate_limit`](crate::rate_limit)), on Redis's clock so
/// that replicas with skewed clocks still share one budget.
/// `KEYS[1]` the budget's key, `ARGV[1]` the emission interval in microseconds.
/// Returns 0 to go (the request is counted), else the microseconds to wait.
///
/// Instants are microseconds since the epoch (about 2^51 now): exact in Lua's doubles,
/// and written back with `%.0f`, since `tostring` would round them to 14 digits.
pub(crate) static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local interval = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then
  tat = now
end
if tat > now then
  return tat - now
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil(interval / 1000) + 1)
return 0
",
    )
});
