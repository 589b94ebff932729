#include "tollgate/metrics/text_format.hpp"

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

}  // namespace

void write_family(std::string& out, std::string_view name, std::string_view help, Type type,
                  const std::vector<Sample>& samples) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += type == Type::counter ? " counter\n" : " gauge\n";
  for (const Sample& sample : samples) {
    out += name;
    if (!sample.labels.empty()) {
      out += '{';
      bool first = true;
      for (const auto& [label, value] : sample.labels) {
        if (!first) out += ',';
        first = false;
        out += label;
        out += "=\"";
        append_label_value(out, value);
        out += '"';
      }
      out += '}';
    }
    out += ' ';
    out += std::to_string(sample.value);
    out += '\n';
  }
}

}  // namespace tollgate::metrics
