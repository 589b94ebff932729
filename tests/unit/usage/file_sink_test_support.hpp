#pragma once
// Helpers for the file/stdout sink and hand-off tests: records whose payload says
// who emitted them, reading lines back, and polling with a deadline.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::testing {

// Worker `w`'s `n`th record; `pad` characters of padding make lines longer.
inline usage::Record make_record(std::size_t w, std::size_t n, std::size_t pad = 8) {
  usage::Record r;
  r.key = "acme";
  r.event_id = std::to_string(w);
  r.event_id += '-';
  r.event_id += std::to_string(n);
  r.payload = std::string("{\"w\":");
  r.payload += std::to_string(w);
  r.payload += ",\"n\":";
  r.payload += std::to_string(n);
  r.payload += ",\"pad\":\"";
  r.payload.append(pad, 'x');
  r.payload += "\"}";
  return r;
}

struct Parsed {
  std::size_t w = 0;
  std::size_t n = 0;
};

// Parses a line make_record produced (padding of at least one character, without the line's
// newline); nullopt for anything else.
inline std::optional<Parsed> parse_line(const std::string& line) {
  Parsed p;
  int end = -1;
  if (std::sscanf(line.c_str(), "{\"w\":%zu,\"n\":%zu,\"pad\":\"%*[x]\"}%n", &p.w, &p.n, &end) != 2 ||
      end < 0 || static_cast<std::size_t>(end) != line.size()) {
    return std::nullopt;
  }
  return p;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The lines of `text`; `whole` says whether it ended with a newline (or was empty).
struct Lines {
  std::vector<std::string> lines;
  bool whole = true;
};

inline Lines split_lines(const std::string& text) {
  Lines out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.lines.push_back(text.substr(start));
      out.whole = false;
      break;
    }
    out.lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// Polls `done` every few milliseconds until it holds or `limit` passes; returns its last value.
template <class F>
bool poll_until(F done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 0; i < 100'000; ++i) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

}  // namespace tollgate::testing
