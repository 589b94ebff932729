#include "tollgate/auth/keygen.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "tollgate/auth/key_format.hpp"
#include "tollgate/auth/key_hash.hpp"

namespace tollgate::auth {
namespace {

// 248 = 4 * 62: bytes below it map onto the alphabet evenly; bytes at or above it are
// rejected, so no character is more likely than another (no modulo bias).
constexpr unsigned kRejectFrom = 248;
static_assert(kRejectFrom % kBase62Alphabet.size() == 0);

// Appends `count` uniformly random base62 characters to `out`.
void append_random_base62(std::string& out, std::size_t count) {
  std::array<unsigned char, 64> buffer{};
  while (count > 0) {
    if (RAND_bytes(buffer.data(), static_cast<int>(buffer.size())) != 1) {
      OPENSSL_cleanse(buffer.data(), buffer.size());
      throw std::runtime_error("RAND_bytes failed: the CSPRNG is unavailable");
    }
    for (unsigned char byte : buffer) {
      if (count == 0) break;
      if (byte >= kRejectFrom) continue;
      out.push_back(kBase62Alphabet[byte % kBase62Alphabet.size()]);
      --count;
    }
  }
  OPENSSL_cleanse(buffer.data(), buffer.size());
}

// Plain YAML scalars made of these characters, starting with an alphanumeric, parse back as
// the same string; anything else (and words YAML reads as null/bool) is double-quoted.
bool is_plain_yaml_safe(std::string_view s) {
  if (s.empty() || !is_base62(s.front())) return false;
  for (char c : s) {
    if (!is_base62(c) && c != '-' && c != '_' && c != '.') return false;
  }
  std::string lower;
  for (char c : s) lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  for (std::string_view word : {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}) {
    if (lower == word) return false;
  }
  return true;
}

std::string yaml_scalar(std::string_view s) {
  if (is_plain_yaml_safe(s)) return std::string(s);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0x0f]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace

GeneratedKey generate_key() {
  GeneratedKey generated;
  generated.key.reserve(kKeyLength);
  generated.key += kKeyScheme;
  append_random_base62(generated.key, kPublicChars);
  generated.key.push_back('_');
  append_random_base62(generated.key, kSecretChars);
  generated.prefix = std::string(key_prefix(generated.key));
  generated.sha256 = sha256(generated.key);
  return generated;
}

std::string key_entry_yaml(const GeneratedKey& key, std::string_view name) {
  std::string yaml;
  yaml += "- name: " + yaml_scalar(name) + "\n";
  yaml += "  prefix: " + key.prefix + "\n";
  yaml += "  sha256: " + to_hex(key.sha256) + "\n";
  yaml += "  status: active\n";
  return yaml;
}

std::string hash_key_input(std::string_view stdin_text) {
  if (stdin_text.ends_with("\r\n")) {
    stdin_text.remove_suffix(2);
  } else if (stdin_text.ends_with('\n')) {
    stdin_text.remove_suffix(1);
  }
  return to_hex(sha256(stdin_text));
}

}  // namespace tollgate::auth
