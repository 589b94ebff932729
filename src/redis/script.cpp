#include "tollgate/redis/script.hpp"

#include <openssl/evp.h>

namespace tollgate::redis {

std::string sha1_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    const unsigned char byte = digest[i];
    out += kHex[byte >> 4];
    out += kHex[byte & 0xF];
  }
  return out;
}

Script Script::make(std::string_view name, std::string_view source) {
  return Script{name, source, sha1_hex(source)};
}

}  // namespace tollgate::redis
