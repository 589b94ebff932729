#pragma once
// HTTP stage: the request/response types every later stage sees, whichever protocol
// (HTTP/1.1 today, HTTP/2 later) carried them.
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tollgate::http {

namespace bhttp = boost::beast::http;

// A complete downstream request: head and body (bounded by server.max_body_bytes).
using Request = bhttp::request<bhttp::string_body>;
// A complete response; the session fills in keep-alive and content-length.
using Response = bhttp::response<bhttp::string_body>;

// The value of header `name`, or "" when absent.
inline std::string_view header(const Request& req, std::string_view name) {
  const auto it = req.find(name);
  return it == req.end() ? std::string_view{} : std::string_view(it->value().data(), it->value().size());
}

// The path of a request target, without the query string.
inline std::string_view path_of(std::string_view target) {
  const auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace tollgate::http
