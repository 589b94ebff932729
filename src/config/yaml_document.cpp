#include "yaml_document.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include <yaml-cpp/eventhandler.h>

namespace tollgate::config::detail {
namespace {

// Records where documents start and ignores everything else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;

  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::optional<YAML::Node> parse_document(const FileContext& ctx, const std::string& text) {
  try {
    // Documents are counted with a bounded event pass rather than YAML::LoadAll: on some
    // malformed input (a stray ',' in block context) yaml-cpp 0.7 yields empty documents
    // forever without consuming anything, and LoadAll never returns.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts docs;
    while (docs.starts.size() < 2 && parser.HandleNextDocument(docs)) {
    }
    if (docs.starts.size() >= 2) {
      const YAML::Mark& second = docs.starts[1];
      const auto pos = static_cast<std::size_t>(std::max(second.pos, 0));
      if (second.pos != docs.starts[0].pos && text.compare(pos, 3, "---") == 0) {
        ctx.error(second, "only one YAML document per file is allowed");
      } else {
        ctx.error(second, "YAML syntax error: unexpected " + in_quotes(text.substr(pos, 1)));
      }
      return std::nullopt;
    }
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace tollgate::config::detail
