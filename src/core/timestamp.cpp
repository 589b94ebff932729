#include "tollgate/core/timestamp.hpp"

#include "tollgate/core/digits.hpp"

namespace tollgate {
namespace {

// Appends "YYYY-MM-DDTHH:MM:SS" of `at`.
void append_date_time(std::string& out, std::chrono::sys_seconds at) {
  const auto day = std::chrono::floor<std::chrono::days>(at);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{at - day};
  append_decimal(out, static_cast<std::uint64_t>(static_cast<int>(ymd.year())), 4);
  out += '-';
  append_decimal(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  append_decimal(out, static_cast<unsigned>(ymd.day()), 2);
  out += 'T';
  append_decimal(out, static_cast<std::uint64_t>(hms.hours().count()), 2);
  out += ':';
  append_decimal(out, static_cast<std::uint64_t>(hms.minutes().count()), 2);
  out += ':';
  append_decimal(out, static_cast<std::uint64_t>(hms.seconds().count()), 2);
}

}  // namespace

void append_rfc3339_ms(std::string& out, std::chrono::system_clock::time_point at) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(at);
  const auto seconds = std::chrono::floor<std::chrono::seconds>(ms);
  append_date_time(out, seconds);
  out += '.';
  append_decimal(out, static_cast<std::uint64_t>((ms - seconds).count()), 3);
  out += 'Z';
}

std::string rfc3339_ms(std::chrono::system_clock::time_point at) {
  std::string out;
  out.reserve(24);
  append_rfc3339_ms(out, at);
  return out;
}

std::string rfc3339(std::chrono::sys_seconds at) {
  std::string out;
  out.reserve(20);
  append_date_time(out, at);
  out += 'Z';
  return out;
}

}  // namespace tollgate
