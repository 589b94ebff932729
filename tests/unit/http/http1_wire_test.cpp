// The hand-built HTTP/1.1 bytes must be exactly what Beast's serializer writes for the same
// message: clients were tested against Beast's bytes, and a difference here is a wire change.
#include "http1_wire.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace tollgate::http {
namespace {

namespace bhttp = boost::beast::http;
using Response = bhttp::response<bhttp::string_body>;

std::string beast_bytes(const Response& response) {
  std::ostringstream out;
  out << response;
  return out.str();
}

std::string wire_bytes(const Response& response) { return wire_head(response) + response.body(); }

Response make(bhttp::status status, unsigned version, std::string body, bool keep_alive) {
  Response response{status, version};
  response.set(bhttp::field::content_type, "application/json");
  response.set("x-request-id", "req-123");
  response.body() = std::move(body);
  response.keep_alive(keep_alive);
  response.prepare_payload();
  return response;
}

TEST(Http1Wire, OkResponseMatchesBeast) {
  const auto response = make(bhttp::status::ok, 11, R"({"id":"chatcmpl-1"})", true);
  EXPECT_EQ(wire_bytes(response), beast_bytes(response));
  EXPECT_TRUE(wire_head(response).starts_with("HTTP/1.1 200 OK\r\n"));
}

TEST(Http1Wire, ErrorResponsesWithCloseMatchBeast) {
  for (const auto status : {bhttp::status::bad_request, bhttp::status::unauthorized, bhttp::status::not_found,
                            bhttp::status::too_many_requests, bhttp::status::bad_gateway,
                            bhttp::status::gateway_timeout, bhttp::status::service_unavailable}) {
    const auto response = make(status, 11, R"({"error":{"message":"no"}})", false);
    EXPECT_EQ(wire_bytes(response), beast_bytes(response)) << static_cast<int>(status);
  }
}

TEST(Http1Wire, OwnReasonPhraseIsKept) {
  auto response = make(bhttp::status::ok, 11, "x", true);
  response.reason("Fine Thanks");
  EXPECT_EQ(wire_bytes(response), beast_bytes(response));
  EXPECT_TRUE(wire_head(response).starts_with("HTTP/1.1 200 Fine Thanks\r\n"));
}

TEST(Http1Wire, UnknownStatusCodeMatchesBeast) {
  Response response;
  response.version(11);
  response.result(599);
  response.body() = "odd";
  response.prepare_payload();
  EXPECT_EQ(wire_bytes(response), beast_bytes(response));
}

TEST(Http1Wire, Http10ResponsesMatchBeast) {
  for (const bool keep_alive : {true, false}) {
    const auto response = make(bhttp::status::ok, 10, "{}", keep_alive);
    EXPECT_EQ(wire_bytes(response), beast_bytes(response)) << keep_alive;
    EXPECT_TRUE(wire_head(response).starts_with("HTTP/1.0 200 OK\r\n"));
  }
}

TEST(Http1Wire, EmptyBodyMatchesBeast) {
  const auto response = make(bhttp::status::no_content, 11, "", true);
  EXPECT_EQ(wire_bytes(response), beast_bytes(response));
}

TEST(Http1Wire, ChunkedHeadMatchesBeastsHeaderSerializer) {
  bhttp::response<bhttp::empty_body> head{bhttp::status::ok, 11};
  head.set(bhttp::field::content_type, "text/event-stream");
  head.set(bhttp::field::cache_control, "no-cache");
  head.keep_alive(true);
  head.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> serializer{head};
  serializer.split(true);  // the head alone, as start_stream writes it
  std::string beast;
  boost::system::error_code ec;
  while (!serializer.is_header_done()) {
    serializer.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      beast += boost::beast::buffers_to_string(buffers);
      serializer.consume(boost::asio::buffer_size(buffers));
    });
    ASSERT_FALSE(ec) << ec.message();
  }
  EXPECT_EQ(wire_head(head), beast);
  EXPECT_NE(beast.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
}

std::string framed(std::string_view payload) {
  const ChunkFrame frame(payload.size());
  return std::string(frame.prefix()) + std::string(payload) + std::string(ChunkFrame::suffix());
}

TEST(Http1Wire, ChunkFramingMatchesBeast) {
  for (const std::size_t size : {1UL, 9UL, 10UL, 15UL, 16UL, 255UL, 256UL, 4095UL, 65536UL, 1000000UL}) {
    const std::string payload(size, 'd');
    const auto beast = boost::beast::buffers_to_string(bhttp::make_chunk(boost::asio::buffer(payload)));
    EXPECT_EQ(framed(payload), beast) << size;
  }
  EXPECT_EQ(std::string(ChunkFrame::last()), boost::beast::buffers_to_string(bhttp::make_chunk_last()));
}

TEST(Http1Wire, LargestChunkSizeFitsThePrefix) {
  const ChunkFrame frame(~std::size_t{0});
  EXPECT_EQ(frame.prefix(), "ffffffffffffffff\r\n");
}

}  // namespace
}  // namespace tollgate::http
