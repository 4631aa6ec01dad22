// asyncio-cpp: SPDX-License-Identifier: MIT
// A real C library driven by the loop through add_reader()/add_writer():
// libcurl's multi socket API fetches many URLs at once, each transfer a task
// awaiting its own future. The URLs are served by a local HTTP server the
// program starts itself (start_server on 127.0.0.1, port 0).
//
// libcurl tells the loop which sockets to watch (CURLMOPT_SOCKETFUNCTION)
// and when to wake it (CURLMOPT_TIMERFUNCTION); the loop tells libcurl what
// became ready (curl_multi_socket_action). No thread, no select() of
// libcurl's own: the loop's one poll serves both.
#include <asyncio/asyncio.hpp>
#include <asyncio/selector_events.hpp>

#include <curl/curl.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr int URLS = 40;

/// The body the server gives for /item/N (and the client checks).
std::string body_of(int n) {
  std::string body;
  for (int i = 0; i < 100 + n; ++i) body += "item " + std::to_string(n) + " line " + std::to_string(i) + "\n";
  return body;
}

/// HTTP/1.1, one request per connection: enough for the example.
asyncio::Coroutine<> serve(asyncio::StreamReader reader, asyncio::StreamWriter writer) {
  const std::string head = co_await reader.readuntil("\r\n\r\n");
  const auto at = head.find("/item/");
  const int n = at == std::string::npos ? -1 : std::stoi(head.substr(at + 6));
  co_await asyncio::sleep(0.01);  // a slow backend: the transfers overlap
  const std::string body = n < 0 ? "not found\n" : body_of(n);
  writer.write(std::string(n < 0 ? "HTTP/1.1 404 Not Found" : "HTTP/1.1 200 OK") +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n");
  writer.write(body);
  co_await writer.drain();
  writer.close();
  co_await writer.wait_closed();
}

/// One libcurl multi handle on the running loop.
class CurlMulti {
 public:
  explicit CurlMulti(asyncio::EventLoop& loop) : loop_(loop), multi_(curl_multi_init()) {
    if (!multi_) throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;
  ~CurlMulti() {
    timer_.cancel();
    curl_multi_cleanup(multi_);
  }

  /// GETs `url`: the body, or std::runtime_error with libcurl's message.
  /// Cancellable: the transfer is taken out of the multi handle.
  asyncio::Coroutine<std::string> fetch(std::string url) {
    Transfer t{loop_.create_future<std::string>(), {}, curl_easy_init()};
    curl_easy_setopt(t.easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, &CurlMulti::on_data);
    curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(t.easy, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(t.easy, CURLOPT_CLOSESOCKETFUNCTION, &CurlMulti::on_close_socket);
    curl_easy_setopt(t.easy, CURLOPT_CLOSESOCKETDATA, this);
    struct Remove {
      CurlMulti& m;
      CURL* easy;
      ~Remove() {
        curl_multi_remove_handle(m.multi_, easy);
        curl_easy_cleanup(easy);
      }
    } remove{*this, t.easy};
    curl_multi_add_handle(multi_, t.easy);  // libcurl asks for a timer: the transfer starts there
    co_return co_await t.done;
  }

 private:
  struct Transfer {
    asyncio::Future<std::string> done;
    std::string body;
    CURL* easy;
  };

  static std::size_t on_data(char* data, std::size_t, std::size_t n, void* p) {
    static_cast<Transfer*>(p)->body.append(data, n);
    return n;
  }

  /// CURLMOPT_SOCKETFUNCTION: watch `s` for what libcurl wants. No
  /// exception may cross libcurl's C frames: -1 fails the transfer.
  static int on_socket(CURL*, curl_socket_t s, int what, void* p, void*) {
    auto* m = static_cast<CurlMulti*>(p);
    try {
      if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        m->loop_.add_reader(s, [m, s] { m->action(s, CURL_CSELECT_IN); });
      else
        m->loop_.remove_reader(s);
      if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        m->loop_.add_writer(s, [m, s] { m->action(s, CURL_CSELECT_OUT); });
      else
        m->loop_.remove_writer(s);
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "curl socket %d: %s\n", static_cast<int>(s), e.what());
      return -1;
    }
  }

  /// libcurl closes a socket: the loop lets go of it first.
  static int on_close_socket(void* p, curl_socket_t s) {
    auto* m = static_cast<CurlMulti*>(p);
    try {
      m->loop_.remove_reader(s);
      m->loop_.remove_writer(s);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "curl socket %d: %s\n", static_cast<int>(s), e.what());
    }
    return ::close(s);
  }

  /// CURLMOPT_TIMERFUNCTION: one timer, replaced at each call (-1: none).
  /// libcurl must not be re-entered from here: the action runs from the
  /// loop, even for a timeout of 0.
  static int on_timer(CURLM*, long timeout_ms, void* p) {
    auto* m = static_cast<CurlMulti*>(p);
    m->timer_.cancel();
    if (timeout_ms >= 0)
      m->timer_ = m->loop_.call_later(static_cast<double>(timeout_ms) / 1000, [m] { m->action(CURL_SOCKET_TIMEOUT, 0); });
    return 0;
  }

  /// Tells libcurl what is ready, then completes the finished transfers.
  void action(curl_socket_t s, int events) {
    int running = 0;
    curl_multi_socket_action(multi_, s, events, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      if (t->done.done()) continue;  // cancelled meanwhile
      if (msg->data.result == CURLE_OK)
        t->done.set_result(std::move(t->body));
      else
        t->done.set_exception(std::make_exception_ptr(std::runtime_error(curl_easy_strerror(msg->data.result))));
    }
  }

  asyncio::EventLoop& loop_;
  CURLM* multi_;
  asyncio::TimerHandle timer_;
};

asyncio::Coroutine<int> main_coro() {
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  asyncio::Server server = co_await asyncio::start_server(serve, "127.0.0.1", 0);
  const int port = server.sockets().at(0).getsockname().port;
  CurlMulti curl(loop);
  std::vector<asyncio::Task<std::string>> tasks;
  for (int n = 0; n < URLS; ++n)
    tasks.push_back(loop.create_task(curl.fetch("http://127.0.0.1:" + std::to_string(port) + "/item/" + std::to_string(n))));
  std::vector<std::string> bodies = co_await asyncio::gather(std::move(tasks));
  int matched = 0;
  for (int n = 0; n < URLS; ++n) matched += bodies[static_cast<std::size_t>(n)] == body_of(n);
  std::printf("fetched %d URLs concurrently through libcurl's multi socket API\n", URLS);
  std::printf("%d bodies matched what the server sent\n", matched);
  const std::string nothing = "http://127.0.0.1:" + std::to_string(port) + "/nothing";
  try {
    co_await curl.fetch(nothing);
  } catch (const std::runtime_error& e) {
    std::printf("/nothing: %s\n", e.what());
  }
  server.close();
  co_await server.wait_closed();
  co_return matched == URLS ? 0 : 1;
}

}  // namespace

int main() {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const int rc = asyncio::run(main_coro());
  curl_global_cleanup();
  return rc;
}
