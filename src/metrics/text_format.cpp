#include "tollgate/metrics/text_format.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace tollgate::metrics {

namespace {

void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void write_header(std::string& out, std::string_view name, std::string_view help, Type type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type_name(type);
  out += '\n';
}

void write_sample(std::string& out, std::string_view name, std::span<const Label> labels,
                  std::string_view value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    bool first = true;
    for (const auto& [label, label_value] : labels) {
      if (!first) out += ',';
      first = false;
      out += label;
      out += "=\"";
      append_label_value(out, label_value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

void write_family(std::string& out, std::string_view name, std::string_view help, Type type,
                  const std::vector<Sample>& samples) {
  write_header(out, name, help, type);
  for (const Sample& sample : samples) {
    write_sample(out, name, sample.labels, std::to_string(sample.value));
  }
}

void write_gauge_family(std::string& out, std::string_view name, std::string_view help,
                        const std::vector<GaugeSample>& samples) {
  write_header(out, name, help, Type::gauge);
  std::string value;
  for (const GaugeSample& sample : samples) {
    value.clear();
    append_double(value, sample.value);
    write_sample(out, name, sample.labels, value);
  }
}

void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    // Shortest round-trip form ("0.1", "1e-05"); to_chars never consults the locale.
    std::array<char, 32> buffer{};
    const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    out.append(buffer.data(), result.ptr);
  }
}

void append_nano_decimal(std::string& out, std::uint64_t whole, std::uint32_t nanos) {
  out += std::to_string(whole);
  if (nanos == 0) return;
  std::array<char, 9> digits{};
  for (int i = 8; i >= 0; --i) {
    digits[static_cast<std::size_t>(i)] = static_cast<char>('0' + nanos % 10);
    nanos /= 10;
  }
  std::size_t length = digits.size();
  while (digits[length - 1] == '0') --length;
  out += '.';
  out.append(digits.data(), length);
}

}  // namespace tollgate::metrics
