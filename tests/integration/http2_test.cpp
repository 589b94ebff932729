// Integration: HTTP/2 downstream. h2c with prior knowledge on the plain API listener and h2 via
// ALPN on the TLS one, with `nghttp` (nghttp2-client) and two clients written here: one on
// nghttp2's client session (flow control) and one that writes raw frames (floods).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::int64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

std::string mock_text(int tokens) {
  std::string text;
  for (int i = 0; i < tokens; ++i) text += "tok" + std::to_string(i) + " ";
  return text;
}

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// A blocking TCP connection to 127.0.0.1 with a receive deadline per call.
class RawSocket {
 public:
  explicit RawSocket(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) throw std::runtime_error("connect");
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  // Writes all of `bytes`; false when the peer has closed (a flood may be cut short).
  bool send_all(const std::string& bytes) {
    std::size_t at = 0;
    while (at < bytes.size()) {
      const auto n = ::send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Reads what arrives within `timeout`: "" on timeout; nullopt on EOF or error.
  std::optional<std::string> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::string{};
    char buf[16384];
    const auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream_id, const std::string& payload) {
  std::string out;
  const auto len = payload.size();
  out += static_cast<char>((len >> 16) & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>(type);
  out += static_cast<char>(flags);
  out += static_cast<char>((stream_id >> 24) & 0x7f);
  out += static_cast<char>((stream_id >> 16) & 0xff);
  out += static_cast<char>((stream_id >> 8) & 0xff);
  out += static_cast<char>(stream_id & 0xff);
  return out + payload;
}

const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::uint8_t kHeaders = 1, kRst = 3, kSettings = 4, kPing = 6, kGoaway = 7, kContinuation = 9;
constexpr std::uint8_t kEndStream = 1, kEndHeaders = 4;
// HPACK: :method GET, :scheme http, :path /v1/models (literal, indexed name), :authority localhost.
const std::string kGetModels = std::string("\x82\x86", 2) + "\x04\x0a/v1/models" + "\x01\x09localhost";

struct Ending {
  bool closed = false;      // EOF or reset seen
  bool goaway = false;      // a GOAWAY frame seen
  std::uint32_t error = 0;  // its error code
};

// Reads frames until the server closes the connection or `within` passes.
Ending read_until_closed(RawSocket& socket, std::chrono::milliseconds within) {
  Ending ending;
  std::string bytes;
  const auto deadline = Clock::now() + within;
  while (Clock::now() < deadline) {
    auto piece = socket.receive(100ms);
    if (!piece) {
      ending.closed = true;
      break;
    }
    bytes += *piece;
  }
  for (std::size_t at = 0; at + 9 <= bytes.size();) {
    const std::size_t len = (std::size_t(std::uint8_t(bytes[at])) << 16) | (std::size_t(std::uint8_t(bytes[at + 1])) << 8) |
                            std::uint8_t(bytes[at + 2]);
    if (std::uint8_t(bytes[at + 3]) == kGoaway && at + 9 + 8 <= bytes.size()) {
      ending.goaway = true;
      const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data() + at + 9 + 4);
      ending.error = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
    }
    at += 9 + len;
  }
  return ending;
}

// Sends the preface, an empty SETTINGS, then `bytes`; returns how the connection ended
// (within 5 s).
Ending flood(std::uint16_t port, const std::string& bytes) {
  RawSocket socket(port);
  socket.send_all(kPreface + frame(kSettings, 0, 0, ""));
  socket.send_all(bytes);
  return read_until_closed(socket, 5s);
}

class Http2Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new MockUpstream();
    key_ = new TestKey(make_key());
    cert_ = (dir_->path() / "gw.crt").string();
    const auto key = (dir_->path() / "gw.key").string();
    ChildProcess openssl({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                          "-out", cert_, "-days", "1", "-subj", "/CN=localhost", "-addext",
                          "subjectAltName=DNS:localhost"});
    ASSERT_EQ(openssl.wait(std::chrono::seconds(30)), 0) << openssl.output();
    const std::string common =
        "admin_listen: 127.0.0.1:0\nthreads: 2\n"
        "providers:\n"
        "  mock: {base_url: \"http://127.0.0.1:" + std::to_string(mock_->port()) + "/v1\"}\n"
        "models:\n"
        "  mock-mini: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}\n"
        "tenants: tenants.yaml\n";
    dir_->write("plain.yaml", "listen: 127.0.0.1:0\nlimits: {local: {state_dir: state-plain}}\n" + common);
    dir_->write("tls.yaml", "listen: 127.0.0.1:0\ntls: {cert: gw.crt, key: gw.key}\n"
                            "limits: {local: {state_dir: state-tls}}\n" + common);
    dir_->write("tenants.yaml", "plans: {open: {}}\ntenants:\n  acme:\n    plan: open\n    keys:\n" +
                                    key_->yaml_entry("prod"));
    dir_->write("chat.json", chat_body(false, ""));
    dir_->write("stream.json", chat_body(true, R"(,"mock":{"completion_tokens":8,"chunk_delay_ms":60})"));
    plain_ = new GatewayProcess(dir_->path() / "plain.yaml");
    tls_ = new GatewayProcess(dir_->path() / "tls.yaml");
  }
  static void TearDownTestSuite() {
    delete tls_;
    delete plain_;
    delete mock_;
    delete key_;
    delete dir_;
  }

  static std::string chat_body(bool stream, const std::string& extra) {
    return std::string(R"({"model":"mock-mini","stream":)") + (stream ? "true" : "false") +
           R"(,"max_tokens":8,"messages":[{"role":"user","content":"Hello there"}])" + extra + "}";
  }

  // Runs nghttp with `args` and returns everything it printed (and its exit code).
  static std::pair<int, std::string> nghttp(std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/nghttp", "-H", "authorization: Bearer " + key_->key, "-H",
                                  "content-type: application/json"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess child(argv);
    const auto code = child.wait(std::chrono::seconds(30));
    return {code.value_or(-1), child.output()};
  }

  static Ending flood(const std::string& bytes) { return tollgate::testing::flood(plain_->port(), bytes); }
  static void still_serves() {
    const auto r = http_request(plain_->port(), "GET", "/v1/models", "", {{"authorization", "Bearer " + key_->key}});
    EXPECT_EQ(r.status, 200u);
    const auto [code, out] = nghttp({"-v", url(plain_->port(), "/v1/models")});
    EXPECT_NE(out.find(":status: 200"), std::string::npos) << out;
  }
  static double closes(const std::string& reason) {
    return metric(plain_->admin_port(), "tollgate_http2_protection_closes_total{reason=\"" + reason + "\"}");
  }

  static json::object mock_stats() {
    return json::parse(http_request(mock_->port(), "GET", "/mock/stats").body).as_object();
  }

  static std::string url(std::uint16_t port, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

  static inline TempDir* dir_ = nullptr;
  static inline MockUpstream* mock_ = nullptr;
  static inline GatewayProcess* plain_ = nullptr;
  static inline GatewayProcess* tls_ = nullptr;
  static inline TestKey* key_ = nullptr;
  static inline std::string cert_;
};

TEST_F(Http2Test, H2cPriorKnowledgeAnswersANonStreamingRequestWithTheMocksBody) {
  const auto [code, out] = nghttp({"-v", "-d", (dir_->path() / "chat.json").string(),
                                   url(plain_->port(), "/v1/chat/completions")});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find(":status: 200"), std::string::npos) << out;
  EXPECT_NE(out.find("x-request-id: "), std::string::npos) << out;
  const auto body_at = out.find("{\"id\"");
  ASSERT_NE(body_at, std::string::npos) << out;
  // nghttp prints the body without a newline before its next log line: parse one value.
  json::parser parser;
  boost::system::error_code ec;
  parser.write_some(out.data() + body_at, out.size() - body_at, ec);
  ASSERT_FALSE(ec) << out;
  const auto body = parser.release().as_object();
  EXPECT_EQ(body.at("choices").at(0).at("message").at("content").as_string(), mock_text(8));
}

TEST_F(Http2Test, H2cStreamsChunksAsTheyArrive) {
  const auto [code, out] = nghttp({"-v", "-d", (dir_->path() / "stream.json").string(),
                                   url(plain_->port(), "/v1/chat/completions")});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find(":status: 200"), std::string::npos) << out;
  EXPECT_NE(out.find("content-type: text/event-stream"), std::string::npos) << out;
  EXPECT_NE(out.find("data: [DONE]"), std::string::npos) << out;
  for (int i = 0; i < 8; ++i) EXPECT_NE(out.find("\"tok" + std::to_string(i) + " \""), std::string::npos) << i;
  // Timestamps of the DATA frames received: spread over the mock's delays, not one burst.
  std::vector<double> at;
  const std::regex data_frame(R"(\[\s*([0-9.]+)\] recv DATA frame <length=\d+, flags=0x0[01], stream_id=13>)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), data_frame); it != std::sregex_iterator(); ++it) {
    at.push_back(std::stod((*it)[1]));
  }
  ASSERT_GE(at.size(), 6u) << out;
  EXPECT_GT(at.back() - at.front(), 0.3) << "chunks were relayed as they arrived, ~60 ms apart";
}

TEST_F(Http2Test, ManyConcurrentStreamsOnOneConnectionAllSucceed) {
  const auto [code, out] = nghttp({"-v", "-m", "50", "-d", (dir_->path() / "chat.json").string(),
                                   url(plain_->port(), "/v1/chat/completions")});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(count_of(out, ":status: 200"), 50u) << out.substr(0, 4000);
  EXPECT_EQ(count_of(out, "recv SETTINGS frame <length=18, flags=0x00"), 1u) << "one connection";
}

TEST_F(Http2Test, H2cRequestBodyOverTheLimitIs413) {
  dir_->write("big.json", std::string(4'194'304 + 10, ' '));
  const auto [code, out] = nghttp({"-v", "-d", (dir_->path() / "big.json").string(),
                                   url(plain_->port(), "/v1/chat/completions")});
  EXPECT_NE(out.find(":status: 413"), std::string::npos) << out.substr(0, 3000);
  EXPECT_NE(out.find("request_too_large"), std::string::npos);
}

// nghttp2's client session on a blocking socket, for what nghttp cannot do: shut windows,
// resets at a chosen moment, oversized headers.
class H2Client {
 public:
  struct Reply {
    int status = 0;
    std::string body;
    bool closed = false;
    std::uint32_t error = 0;  // RST_STREAM code, if reset
  };
  using Fields = std::vector<std::pair<std::string, std::string>>;

  // `initial_window` is SETTINGS_INITIAL_WINDOW_SIZE for every stream; windows are opened only
  // where the test says (no automatic WINDOW_UPDATE).
  H2Client(std::uint16_t port, std::uint32_t initial_window) : socket_(port) {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    nghttp2_option_set_no_auto_window_update(option, 1);
    nghttp2_option_set_max_send_header_block_length(option, 1 << 20);
    nghttp2_session_client_new2(&session_, callbacks, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, initial_window}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
    nghttp2_submit_window_update(session_, NGHTTP2_FLAG_NONE, 0, 1 << 24);
  }
  ~H2Client() { nghttp2_session_del(session_); }

  // A POST of `body` to `path`; returns the stream id.
  std::int32_t post(const std::string& path, std::string body, const Fields& extra = {}) {
    bodies_.push_back(std::make_unique<std::string>(std::move(body)));
    Fields fields{{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", "localhost"},
                  {"content-type", "application/json"}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nv;
    for (const auto& [n, v] : fields) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider provider{};
    provider.source.ptr = bodies_.back().get();
    provider.read_callback = read_body;
    return nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), &provider, nullptr);
  }
  void open_window(std::int32_t stream, std::int32_t bytes) {
    nghttp2_submit_window_update(session_, NGHTTP2_FLAG_NONE, stream, bytes);
  }
  void reset(std::int32_t stream) { nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, NGHTTP2_CANCEL); }

  // Sends and receives until `done()` or `within` passes; false if the server closed.
  template <class Done>
  bool pump(std::chrono::milliseconds within, Done done) {
    const auto deadline = Clock::now() + within;
    while (Clock::now() < deadline && !done()) {
      for (;;) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(session_, &data);
        if (n <= 0) break;
        socket_.send_all(std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)));
      }
      auto piece = socket_.receive(20ms);
      if (!piece) return false;
      if (!piece->empty()) {
        nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(piece->data()), piece->size());
      }
    }
    return true;
  }
  void pump_for(std::chrono::milliseconds within) {
    pump(within, [] { return false; });
  }
  Reply& reply(std::int32_t stream) { return replies_[stream]; }
  bool goaway() const { return goaway_; }
  void ping() { nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr); }

 private:
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_GOAWAY) static_cast<H2Client*>(user)->goaway_ = true;
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& self = *static_cast<H2Client*>(user);
    if (std::string_view(reinterpret_cast<const char*>(name), namelen) == ":status") {
      self.replies_[frame->hd.stream_id].status =
          std::stoi(std::string(reinterpret_cast<const char*>(value), valuelen));
    }
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
                     void* user) {
    static_cast<H2Client*>(user)->replies_[id].body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t error, void* user) {
    auto& reply = static_cast<H2Client*>(user)->replies_[id];
    reply.closed = true;
    reply.error = error;
    return 0;
  }
  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* body = static_cast<std::string*>(source->ptr);
    const auto n = std::min(length, body->size());
    std::memcpy(buf, body->data(), n);
    body->erase(0, n);
    if (body->empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  RawSocket socket_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, Reply> replies_;
  std::vector<std::unique_ptr<std::string>> bodies_;
  bool goaway_ = false;
};

TEST_F(Http2Test, AStreamWithAShutWindowDoesNotBlockTheOthers) {
  H2Client client(plain_->port(), 16);
  const H2Client::Fields auth{{"authorization", "Bearer " + key_->key}};
  const std::int32_t slow = client.post("/v1/chat/completions", chat_body(true, R"(,"mock":{"completion_tokens":2000,"chunk_delay_ms":5})"), auth);
  ASSERT_GT(slow, 0);
  // The slow stream starts and fills its 16-byte window.
  client.pump(3s, [&] { return client.reply(slow).status != 0 && !client.reply(slow).body.empty(); });
  ASSERT_EQ(client.reply(slow).status, 200);
  // Now a second stream with a window of its own: it completes while the slow one is stuck.
  const std::int32_t fast = client.post("/v1/chat/completions", chat_body(false, ""), auth);
  ASSERT_GT(fast, 0);
  client.pump_for(100ms);  // the stream exists once its HEADERS are out
  client.open_window(fast, 1 << 20);
  const auto started = Clock::now();
  client.pump(5s, [&] { return client.reply(fast).closed; });
  EXPECT_LT(Clock::now() - started, 3s);
  EXPECT_EQ(client.reply(fast).status, 200);
  EXPECT_NE(client.reply(fast).body.find(mock_text(8)), std::string::npos) << client.reply(fast).body;
  EXPECT_FALSE(client.reply(slow).closed);
  EXPECT_LE(client.reply(slow).body.size(), 16u);

  // The client resets the stuck stream: the gateway drops its upstream stream at once.
  const auto aborted_before = mock_stats().at("streams_aborted").as_int64();
  client.reset(slow);
  client.pump_for(100ms);
  const auto deadline = Clock::now() + 5s;
  while (mock_stats().at("streams_aborted").as_int64() == aborted_before && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GT(mock_stats().at("streams_aborted").as_int64(), aborted_before) << "upstream stream cancelled";
}

TEST_F(Http2Test, ClosingTheConnectionCancelsItsUpstreamStreams) {
  const auto aborted_before = mock_stats().at("streams_aborted").as_int64();
  {
    H2Client client(plain_->port(), 16);
    const std::int32_t slow = client.post("/v1/chat/completions",
                                          chat_body(true, R"(,"mock":{"completion_tokens":2000,"chunk_delay_ms":5})"),
                                          {{"authorization", "Bearer " + key_->key}});
    client.pump(3s, [&] { return !client.reply(slow).body.empty(); });
    ASSERT_EQ(client.reply(slow).status, 200);
  }  // the socket closes here
  const auto deadline = Clock::now() + 5s;
  while (mock_stats().at("streams_aborted").as_int64() == aborted_before && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GT(mock_stats().at("streams_aborted").as_int64(), aborted_before);
}

TEST_F(Http2Test, OversizedHeadersAre431OnThatStreamOnly) {
  H2Client client(plain_->port(), 1 << 20);
  const H2Client::Fields big{{"authorization", "Bearer " + key_->key}, {"x-big", std::string(70'000, 'a')}};
  const std::int32_t refused = client.post("/v1/chat/completions", chat_body(false, ""), big);
  const std::int32_t fine = client.post("/v1/chat/completions", chat_body(false, ""),
                                        {{"authorization", "Bearer " + key_->key}});
  client.pump(5s, [&] { return client.reply(refused).closed && client.reply(fine).closed; });
  EXPECT_EQ(client.reply(refused).status, 431);
  EXPECT_NE(client.reply(refused).body.find("headers_too_large"), std::string::npos);
  EXPECT_EQ(client.reply(fine).status, 200);
}

// A gateway of its own (it is stopped or timed out by the test), sharing the suite's mock.
std::unique_ptr<GatewayProcess> own_gateway(const TempDir& dir, std::uint16_t mock_port, const std::string& name,
                                            const std::string& server) {
  dir.write(name + ".yaml", "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 1\n"
                            "limits: {local: {state_dir: state-" + name + "}}\n"
                            "server: " + server + "\n"
                            "providers:\n"
                            "  mock: {base_url: \"http://127.0.0.1:" + std::to_string(mock_port) + "/v1\"}\n"
                            "models:\n"
                            "  mock-mini: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}\n"
                            "tenants: tenants.yaml\n");
  return std::make_unique<GatewayProcess>(dir.path() / (name + ".yaml"));
}

TEST_F(Http2Test, SigtermLetsAnOpenStreamFinishAndSendsGoaway) {
  auto gateway = own_gateway(*dir_, mock_->port(), "drain", "{shutdown_grace_ms: 10000}");
  H2Client client(gateway->port(), 1 << 20);
  const std::int32_t stream = client.post("/v1/chat/completions",
                                          chat_body(true, R"(,"mock":{"completion_tokens":20,"chunk_delay_ms":50})"),
                                          {{"authorization", "Bearer " + key_->key}});
  client.open_window(stream, 1 << 20);
  client.pump(3s, [&] { return client.reply(stream).body.find("tok0") != std::string::npos; });
  ASSERT_EQ(client.reply(stream).status, 200);
  ::kill(gateway->process().pid(), SIGTERM);
  client.pump(10s, [&] { return client.reply(stream).closed && client.goaway(); });
  EXPECT_TRUE(client.goaway());
  EXPECT_EQ(client.reply(stream).error, 0u);
  EXPECT_NE(client.reply(stream).body.find("tok19"), std::string::npos);
  EXPECT_NE(client.reply(stream).body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(gateway->process().wait(10s), 0);
}

TEST_F(Http2Test, AnIdleConnectionIsClosedAndPingsDoNotKeepItOpen) {
  auto gateway = own_gateway(*dir_, mock_->port(), "idle", "{idle_timeout_ms: 400, header_timeout_ms: 400}");
  H2Client client(gateway->port(), 1 << 20);
  const auto started = Clock::now();
  bool open = true;
  while (open && Clock::now() - started < 5s) {
    client.ping();
    open = client.pump(100ms, [] { return false; });
  }
  EXPECT_FALSE(open) << "closed by the gateway";
  EXPECT_TRUE(client.goaway());
  EXPECT_LT(Clock::now() - started, 3s);
}

// The flood tests share Http2Test's processes.
using FloodTest = Http2Test;


std::string rapid_reset_flood(int pairs) {
  std::string out;
  for (int i = 0; i < pairs; ++i) {
    const std::uint32_t id = 2 * static_cast<std::uint32_t>(i) + 1;
    out += frame(kHeaders, kEndStream | kEndHeaders, id, kGetModels);
    out += frame(kRst, 0, id, std::string("\0\0\0\x08", 4));  // CANCEL
  }
  return out;
}

std::string continuation_flood(int frames) {
  std::string out = frame(kHeaders, kEndStream, 1, kGetModels);
  const std::string field = std::string("\x00\x03x-a\x01" "b", 7);
  for (int i = 0; i < frames; ++i) out += frame(kContinuation, 0, 1, field);
  return out;
}

std::string repeated(std::uint8_t type, const std::string& payload, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += frame(type, 0, 0, payload);
  return out;
}

TEST_F(FloodTest, RapidResetClosesTheConnection) {
  const auto ending = flood(rapid_reset_flood(1000));
  EXPECT_TRUE(ending.closed);
  EXPECT_TRUE(ending.goaway);
  EXPECT_EQ(ending.error, 0xbu) << "ENHANCE_YOUR_CALM";
  EXPECT_GE(closes("rapid_reset"), 1);
  still_serves();
}

TEST_F(FloodTest, EndlessContinuationClosesTheConnection) {
  const auto ending = flood(continuation_flood(5000));
  EXPECT_TRUE(ending.closed);
  EXPECT_TRUE(ending.goaway);
  EXPECT_EQ(ending.error, 0xbu);
  EXPECT_GE(closes("continuation_flood"), 1);
  still_serves();
}

TEST_F(FloodTest, SettingsFloodClosesTheConnection) {
  const auto ending = flood(repeated(kSettings, "", 5000));
  EXPECT_TRUE(ending.closed);
  EXPECT_TRUE(ending.goaway);
  EXPECT_GE(closes("settings_flood"), 1);
  still_serves();
}

TEST_F(FloodTest, PingFloodClosesTheConnection) {
  const auto ending = flood(repeated(kPing, std::string(8, 'p'), 5000));
  EXPECT_TRUE(ending.closed);
  EXPECT_TRUE(ending.goaway);
  EXPECT_GE(closes("ping_flood"), 1);
  still_serves();
}

TEST_F(FloodTest, HpackBombClosesTheConnection) {
  // One 4000-byte field into the dynamic table, then referenced 100 times at one byte each.
  std::string block = kGetModels + std::string("\x40\x03x-b\x7f\xa1\x1e", 8) + std::string(4000, 'b');
  block += std::string(100, '\xbe');
  const auto ending = flood(frame(kHeaders, kEndStream | kEndHeaders, 1, block));
  EXPECT_TRUE(ending.closed);
  EXPECT_TRUE(ending.goaway);
  EXPECT_EQ(ending.error, 0xbu);
  EXPECT_GE(closes("header_list_too_large"), 1);
  still_serves();
}

TEST_F(FloodTest, RepeatedFloodsKeepMemoryBounded) {
  // Warm up, then measure: 40 more flooding connections must not grow the RSS by much.
  for (int i = 0; i < 4; ++i) flood(rapid_reset_flood(1000));
  const auto before = rss_kib(plain_->process().pid());
  for (int i = 0; i < 10; ++i) {
    flood(rapid_reset_flood(1000));
    flood(continuation_flood(2000));
    flood(repeated(kSettings, "", 2000));
    flood(repeated(kPing, std::string(8, 'p'), 2000));
  }
  const auto after = rss_kib(plain_->process().pid());
#ifdef TOLLGATE_SANITIZED
  constexpr std::int64_t kSlackKib = 256 * 1024;  // ASan's quarantine holds freed memory
#else
  constexpr std::int64_t kSlackKib = 32 * 1024;
#endif
  EXPECT_LT(after - before, kSlackKib) << before << " KiB -> " << after << " KiB";
  still_serves();
}

TEST_F(FloodTest, TheBoundsComeFromServerHttp2InTheConfig) {
  auto gateway = own_gateway(*dir_, mock_->port(), "bounds",
                             "{http2: {max_concurrent_streams: 3, max_resets_per_interval: 5}}");
  // Advertised in the gateway's SETTINGS.
  const auto [code, out] = nghttp({"-v", url(gateway->port(), "/v1/models")});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):3]"), std::string::npos) << out;
  // 8 resets: within the default bound (200 per 10 s), over this one.
  const auto ending = tollgate::testing::flood(gateway->port(), rapid_reset_flood(8));
  EXPECT_TRUE(ending.closed);
  EXPECT_TRUE(ending.goaway);
  EXPECT_EQ(ending.error, 0xbu) << "ENHANCE_YOUR_CALM";
  EXPECT_EQ(metric(gateway->admin_port(), "tollgate_http2_protection_closes_total{reason=\"rapid_reset\"}"), 1);
}

TEST_F(Http2Test, TlsNegotiatesH2ByAlpn) {
  const auto [code, out] = nghttp({"-v", "https://localhost:" + std::to_string(tls_->port()) + "/v1/models"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("The negotiated protocol: h2"), std::string::npos) << out;
  EXPECT_NE(out.find(":status: 200"), std::string::npos) << out;
  EXPECT_NE(out.find("mock-mini"), std::string::npos) << out;
}

TEST_F(Http2Test, TlsStreamsOverH2) {
  const auto [code, out] = nghttp({"-d", (dir_->path() / "stream.json").string(),
                                   "https://localhost:" + std::to_string(tls_->port()) + "/v1/chat/completions"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("data: [DONE]"), std::string::npos) << out;
  for (int i = 0; i < 8; ++i) EXPECT_NE(out.find("\"tok" + std::to_string(i) + " \""), std::string::npos) << i;
}

TEST_F(Http2Test, TlsServesHttp11WithoutAlpn) {
  const auto r = https_get(tls_->port(), "/v1/models", cert_);
  EXPECT_EQ(r.status, 401u) << r.body;
  EXPECT_NE(r.body.find("invalid_api_key"), std::string::npos) << r.body;
}

TEST_F(Http2Test, TlsHttp11KeepsAliveAndStreams) {
  namespace asio = boost::asio;
  namespace bhttp = boost::beast::http;
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(cert_);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification("localhost"));
  SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(stream.native_handle(), alpn, sizeof(alpn));
  stream.next_layer().connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), tls_->port()));
  const timeval timeout{10, 0};
  ::setsockopt(stream.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  stream.handshake(asio::ssl::stream_base::client);
  boost::beast::flat_buffer buffer;
  for (const bool streamed : {false, true, false}) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/chat/completions", 11};
    req.set(bhttp::field::host, "localhost");
    req.set(bhttp::field::authorization, "Bearer " + key_->key);
    req.set(bhttp::field::content_type, "application/json");
    req.body() = chat_body(streamed, "");
    req.prepare_payload();
    bhttp::write(stream, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    EXPECT_TRUE(res.keep_alive());
    if (streamed) {
      EXPECT_TRUE(res.chunked());
      EXPECT_NE(res.body().find("data: [DONE]"), std::string::npos) << res.body();
      EXPECT_NE(res.body().find("\"tok7 \""), std::string::npos) << res.body();
    } else {
      EXPECT_NE(res.body().find(mock_text(8)), std::string::npos) << res.body();
    }
  }
}

TEST_F(Http2Test, PlainHttp11StillWorksOnTheH2cListener) {
  const auto r = http_request(plain_->port(), "GET", "/v1/models", "", {{"authorization", "Bearer " + key_->key}});
  EXPECT_EQ(r.status, 200u);
}

TEST_F(Http2Test, AnUnloadableCertificateFailsStartUp) {
  dir_->write("bad.crt", "not a certificate\n");
  dir_->write("bad.yaml", "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ntls: {cert: bad.crt, key: gw.key}\n"
                          "providers: {}\nmodels: {}\ntenants: tenants.yaml\n");
  ChildProcess gateway({tollgate_binary(), "--config", (dir_->path() / "bad.yaml").string()});
  const auto code = gateway.wait(std::chrono::seconds(20));
  EXPECT_EQ(code, 1) << gateway.output();
  EXPECT_NE(gateway.output().find("cannot start the TLS API listener"), std::string::npos) << gateway.output();
  EXPECT_NE(gateway.output().find("bad.crt"), std::string::npos) << gateway.output();
}

}  // namespace
}  // namespace tollgate::testing
