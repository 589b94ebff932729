#pragma once
// Config stage: pure text parsers for the scalar formats the YAML files use (integers,
// durations, USD amounts, fractions, URLs, host:port, dates, key hashes). No YAML here, so
// each parser is easy to test on its own; the error strings become Diagnostic messages.
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/config/config.hpp"
#include "tollgate/core/money.hpp"

namespace tollgate::config::detail {

// A parsed value, or why the text was rejected (never both).
template <class T>
struct Parsed {
  std::optional<T> value;
  std::string error;

  static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
  static Parsed fail(std::string why) { return Parsed{std::nullopt, std::move(why)}; }
};

// `text` in double quotes for a message: control characters escaped, long text cut at 64 chars.
std::string in_quotes(std::string_view text);

// Decimal digits only (no sign, no exponent, no separators), 1..INT64_MAX.
std::optional<std::int64_t> parse_positive_int(std::string_view text);

// A non-negative USD amount with at most 9 decimals, exactly (core parse_usd).
std::optional<NanoUsd> parse_usd_amount(std::string_view text);

// A decimal fraction in (0, 1], e.g. "0.8" or "1".
std::optional<double> parse_fraction(std::string_view text);

// "http[s]://host[:port][/path]"; scheme must be in `schemes`. The path loses its trailing
// slash. No user info, query or fragment (secrets never live in YAML).
Parsed<Url> parse_url(std::string_view text, std::initializer_list<std::string_view> schemes);

// "1.2.3.4:80", "[::1]:80" or "localhost:80"; port 0..65535 (0 = any free port).
Parsed<HostPort> parse_host_port(std::string_view text);

// "YYYY-MM-DD", a real calendar date.
std::optional<std::chrono::sys_days> parse_date(std::string_view text);

// Exactly 64 hex digits (either case).
Parsed<Sha256> parse_sha256_hex(std::string_view text);

// "tg_" followed by exactly 8 ASCII letters or digits.
bool is_key_prefix(std::string_view text);

// A POSIX-style environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool is_env_name(std::string_view text);

}  // namespace tollgate::config::detail
