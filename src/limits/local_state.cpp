#include "local_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <set>
#include <system_error>

namespace tollgate::limits::local {
namespace {

constexpr std::string_view kMagic = "tollgate-limits-state";
constexpr std::string_view kVersion = "1";

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now so the caller sees the error (a failed close can mean lost data).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

std::string errno_text(int error) { return std::generic_category().message(error); }

Failure io_failure(std::string_view what, const std::string& path, int error) {
  return fail(Error::limits_unavailable,
              std::string(what) + " limits state file '" + path + "': " + errno_text(error));
}

// Names (tenants, request ids) are written with every byte outside [A-Za-z0-9._-]
// percent-encoded, and "~" for the empty name, so a field never holds a space or a newline.
bool plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

void append_name(std::string& out, std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  if (name.empty()) {
    out += '~';
    return;
  }
  for (const char c : name) {
    if (plain(c)) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> parse_name(std::string_view field) {
  if (field == "~") return std::string();
  if (field.empty()) return std::nullopt;
  std::string name;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (plain(field[i])) {
      name += field[i];
      continue;
    }
    if (field[i] != '%' || i + 2 >= field.size()) return std::nullopt;
    const int high = hex_digit(field[i + 1]);
    const int low = hex_digit(field[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    name += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return name;
}

void append_int(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  out.append(buffer, end);
}

// Shortest text that reads back as the same double.
void append_double(std::string& out, double value) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  out.append(buffer, end);
}

std::optional<std::int64_t> parse_int(std::string_view field) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (error != std::errc() || end != field.data() + field.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_count(std::string_view field) {
  const auto value = parse_int(field);
  if (!value || *value < 0) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view field) {
  double value = 0;
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (error != std::errc() || end != field.data() + field.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<bool> parse_flag(std::string_view field) {
  if (field == "0") return false;
  if (field == "1") return true;
  return std::nullopt;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t begin = 0;
  while (true) {
    const std::size_t space = line.find(' ', begin);
    fields.push_back(line.substr(begin, space == std::string_view::npos ? line.npos : space - begin));
    if (space == std::string_view::npos) return fields;
    begin = space + 1;
  }
}

void append_window(std::string& out, std::string_view tag, const WindowState& w) {
  out += tag;
  for (const std::int64_t value : {w.start.time_since_epoch().count(), w.requests, w.input.value,
                                   w.output.value, w.spent.value, w.reserved.value}) {
    out += ' ';
    append_int(out, value);
  }
  out += w.alerted ? " 1\n" : " 0\n";
}

void append_bucket(std::string& out, std::string_view tag, const BucketState& b) {
  if (!b.used) return;
  out += tag;
  out += ' ';
  append_double(out, b.level);
  out += ' ';
  append_int(out, b.ts_ms);
  out += '\n';
}

// "day|month <start_s> <requests> <input> <output> <spent> <reserved> <alerted>"
std::optional<WindowState> parse_window(const std::vector<std::string_view>& f) {
  if (f.size() != 8) return std::nullopt;
  const auto start = parse_int(f[1]);
  const auto requests = parse_count(f[2]);
  const auto input = parse_count(f[3]);
  const auto output = parse_count(f[4]);
  const auto spent = parse_count(f[5]);
  const auto reserved = parse_count(f[6]);
  const auto alerted = parse_flag(f[7]);
  if (!start || !requests || !input || !output || !spent || !reserved || !alerted) return std::nullopt;
  WindowState w;
  w.start = std::chrono::sys_seconds(std::chrono::seconds(*start));
  w.requests = *requests;
  w.input = Tokens{*input};
  w.output = Tokens{*output};
  w.spent = NanoUsd{*spent};
  w.reserved = NanoUsd{*reserved};
  w.alerted = *alerted;
  return w;
}

// "requests|tokens <level> <ts_ms>"
std::optional<BucketState> parse_bucket(const std::vector<std::string_view>& f) {
  if (f.size() != 3) return std::nullopt;
  const auto level = parse_double(f[1]);
  const auto ts = parse_int(f[2]);
  if (!level || !ts) return std::nullopt;
  return BucketState{true, *level, *ts};
}

// "lease <request_id> <tokens> <cost> <expires_ms> <day_start_s> <month_start_s> <downgraded>"
std::optional<std::pair<std::string, Lease>> parse_lease(const std::vector<std::string_view>& f) {
  if (f.size() != 8) return std::nullopt;
  auto id = parse_name(f[1]);
  const auto tokens = parse_count(f[2]);
  const auto cost = parse_count(f[3]);
  const auto expires = parse_int(f[4]);
  const auto day = parse_int(f[5]);
  const auto month = parse_int(f[6]);
  const auto downgraded = parse_flag(f[7]);
  if (!id || !tokens || !cost || !expires || !day || !month || !downgraded) return std::nullopt;
  Lease lease;
  lease.tokens = Tokens{*tokens};
  lease.cost = NanoUsd{*cost};
  lease.expires_ms = *expires;
  lease.day_start = std::chrono::sys_seconds(std::chrono::seconds(*day));
  lease.month_start = std::chrono::sys_seconds(std::chrono::seconds(*month));
  lease.downgraded = *downgraded;
  return std::pair{std::move(*id), lease};
}

// Why a parsed tenant is inconsistent, or empty.
std::string check_tenant(const TenantState& t, bool has_day, bool has_month) {
  if (!has_day) return "tenant has no day line";
  if (!has_month) return "tenant has no month line";
  NanoUsd day_leases;
  NanoUsd month_leases;
  for (const auto& [id, lease] : t.leases) {
    if (lease.day_start == t.day.start) day_leases = day_leases + lease.cost;
    if (lease.month_start == t.month.start) month_leases = month_leases + lease.cost;
  }
  if (day_leases != t.day.reserved) return "day reserved does not match its leases";
  if (month_leases != t.month.reserved) return "month reserved does not match its leases";
  return {};
}

}  // namespace

std::string format_header() {
  std::string out(kMagic);
  out += ' ';
  out += kVersion;
  out += '\n';
  return out;
}

void format_tenant(std::string& out, std::string_view name, const TenantState& state) {
  out += "tenant ";
  append_name(out, name);
  out += '\n';
  append_window(out, "day", state.day);
  append_window(out, "month", state.month);
  append_bucket(out, "requests", state.requests);
  append_bucket(out, "tokens", state.tokens);
  for (const auto& [id, lease] : state.leases) {
    out += "lease ";
    append_name(out, id);
    for (const std::int64_t value : {lease.tokens.value, lease.cost.value, lease.expires_ms,
                                     lease.day_start.time_since_epoch().count(),
                                     lease.month_start.time_since_epoch().count()}) {
      out += ' ';
      append_int(out, value);
    }
    out += lease.downgraded ? " 1\n" : " 0\n";
  }
}

void format_trailer(std::string& out, std::size_t tenants) {
  out += "end ";
  append_int(out, static_cast<std::int64_t>(tenants));
  out += '\n';
}

Result<std::vector<std::pair<std::string, TenantState>>> parse_state(std::string_view text,
                                                                     const std::string& path) {
  std::size_t line_no = 0;
  auto corrupt = [&](std::string_view what) {
    return fail(Error::limits_unavailable, "limits state file '" + path + "' is corrupt at line " +
                                               std::to_string(line_no) + ": " + std::string(what));
  };
  if (text.empty() || text.back() != '\n') {
    line_no = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    return corrupt("the file does not end with a newline (truncated?)");
  }

  std::vector<std::pair<std::string, TenantState>> tenants;
  std::set<std::string, std::less<>> names;
  TenantState* current = nullptr;
  bool has_day = false;
  bool has_month = false;
  bool ended = false;

  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t newline = text.find('\n', begin);
    const std::string_view line = text.substr(begin, newline - begin);
    begin = newline + 1;
    ++line_no;
    const auto f = split(line);

    if (line_no == 1) {
      if (f.size() != 2 || f[0] != kMagic) return corrupt("not a tollgate limits state file");
      if (f[1] != kVersion) return corrupt("unsupported version '" + std::string(f[1]) + "'");
      continue;
    }
    if (ended) return corrupt("text after the end line");

    const std::string_view tag = f[0];
    if (tag == "tenant" || tag == "end") {
      if (current != nullptr) {
        if (auto why = check_tenant(*current, has_day, has_month); !why.empty()) {
          --line_no;
          return corrupt(why);
        }
      }
      current = nullptr;
      if (tag == "end") {
        const auto count = f.size() == 2 ? parse_count(f[1]) : std::nullopt;
        if (!count) return corrupt("malformed end line");
        if (static_cast<std::size_t>(*count) != tenants.size()) {
          return corrupt("the end line counts " + std::to_string(*count) + " tenants, the file has " +
                         std::to_string(tenants.size()));
        }
        ended = true;
        continue;
      }
      auto name = f.size() == 2 ? parse_name(f[1]) : std::nullopt;
      if (!name) return corrupt("malformed tenant line");
      if (!names.insert(*name).second) return corrupt("duplicate tenant");
      tenants.emplace_back(std::move(*name), TenantState{});
      current = &tenants.back().second;
      has_day = false;
      has_month = false;
      continue;
    }

    const bool known = tag == "day" || tag == "month" || tag == "requests" || tag == "tokens" || tag == "lease";
    if (!known) return corrupt("unknown line '" + std::string(tag) + "'");
    if (current == nullptr) return corrupt("'" + std::string(tag) + "' line outside a tenant");
    if (tag == "day" || tag == "month") {
      bool& seen = tag == "day" ? has_day : has_month;
      if (seen) return corrupt("second " + std::string(tag) + " line");
      const auto window = parse_window(f);
      if (!window) return corrupt("malformed " + std::string(tag) + " line");
      (tag == "day" ? current->day : current->month) = *window;
      seen = true;
    } else if (tag == "requests" || tag == "tokens") {
      BucketState& bucket = tag == "requests" ? current->requests : current->tokens;
      if (bucket.used) return corrupt("second " + std::string(tag) + " line");
      const auto parsed = parse_bucket(f);
      if (!parsed) return corrupt("malformed " + std::string(tag) + " line");
      bucket = *parsed;
    } else {
      auto lease = parse_lease(f);
      if (!lease) return corrupt("malformed lease line");
      if (!current->leases.insert(std::move(*lease)).second) return corrupt("duplicate lease");
    }
  }
  if (!ended) return corrupt("no end line (truncated?)");
  return tenants;
}

Result<std::optional<std::string>> read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return io_failure("cannot open", path, errno);
  }
  std::string contents;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_failure("cannot read", path, errno);
    if (n == 0) break;
    contents.append(buffer, static_cast<std::size_t>(n));
  }
  return std::optional<std::string>(std::move(contents));
}

Result<void> replace_state_file(const std::string& dir, std::string_view contents) {
  const std::string temp = dir + "/" + std::string(kTempFileName);
  const std::string target = dir + "/" + std::string(kStateFileName);
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return io_failure("cannot create", temp, errno);
  std::size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd.get(), contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_failure("cannot write", temp, errno);
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return io_failure("cannot fsync", temp, errno);
  if (fd.close() != 0) return io_failure("cannot close", temp, errno);
  if (::rename(temp.c_str(), target.c_str()) != 0) return io_failure("cannot rename into place", target, errno);
  // The rename is durable only once the directory entry is.
  Fd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() < 0) return io_failure("cannot open the directory of", target, errno);
  if (::fsync(directory.get()) != 0) return io_failure("cannot fsync the directory of", target, errno);
  return {};
}

}  // namespace tollgate::limits::local
