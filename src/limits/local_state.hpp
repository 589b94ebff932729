#pragma once
// LocalStore's per-tenant state and its state file (the format is documented in
// tollgate/limits/local_store.hpp). Private to src/limits; plain values, no locking: the
// store holds the tenant's shard lock around every use.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tollgate/core/error.hpp"
#include "tollgate/core/money.hpp"

namespace tollgate::limits::local {

// One UTC calendar window (a day or a month) of one tenant. `reserved` is always the sum of
// the costs of the live leases that belong to this window (same start).
struct WindowState {
  std::chrono::sys_seconds start{};
  std::int64_t requests = 0;  // admissions
  Tokens input;               // settled
  Tokens output;              // settled
  NanoUsd spent;              // settled, plus leases reaped or lost in a restart
  NanoUsd reserved;           // live leases' costs
  bool alerted = false;       // the soft alert was raised in this window
};

// A token bucket (requests_per_minute or tokens_per_minute). `used` is false until the
// first touch, which fills it to capacity.
struct BucketState {
  bool used = false;
  double level = 0;
  std::int64_t ts_ms = 0;  // ms since the Unix epoch of the last touch
};

// A live reservation.
struct Lease {
  Tokens tokens;                         // taken from the tokens bucket
  NanoUsd cost;                          // reserved in its windows (grown by extend)
  std::int64_t expires_ms = 0;           // ms since the Unix epoch
  std::chrono::sys_seconds day_start{};  // the windows it belongs to
  std::chrono::sys_seconds month_start{};
  bool downgraded = false;  // answered again by an idempotent admit
};

struct TenantState {
  WindowState day;
  WindowState month;
  BucketState requests;
  BucketState tokens;
  std::map<std::string, Lease, std::less<>> leases;  // by request id
  // No lease expires before this (a lower bound: extend may have pushed the real one later),
  // so most admissions skip the reaping scan.
  std::int64_t earliest_expiry_ms = 0;
};

inline constexpr std::string_view kStateFileName = "limits.state";
inline constexpr std::string_view kTempFileName = "limits.state.tmp";
inline constexpr std::string_view kLockFileName = "limits.lock";

// Serialisation in three steps so the store can write one shard at a time under its lock.
std::string format_header();
void format_tenant(std::string& out, std::string_view name, const TenantState& state);
void format_trailer(std::string& out, std::size_t tenants);

// Parses a whole state file. Errors (Error::limits_unavailable) name `path`, the line and what
// is wrong. The result holds the leases as written: charging them is the caller's business.
Result<std::vector<std::pair<std::string, TenantState>>> parse_state(std::string_view text,
                                                                     const std::string& path);

// The file's contents; nullopt when it does not exist.
Result<std::optional<std::string>> read_file(const std::string& path);

// Writes `contents` to dir/kTempFileName, fsyncs it, renames it over dir/kStateFileName and
// fsyncs the directory: a crash leaves either the old file or the new one, never a mix.
Result<void> replace_state_file(const std::string& dir, std::string_view contents);

}  // namespace tollgate::limits::local
