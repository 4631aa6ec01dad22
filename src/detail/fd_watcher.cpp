// asyncio-cpp: SPDX-License-Identifier: MIT
// ≙ the selector keys of BaseSelectorEventLoop (Lib/asyncio/selector_events.py)
#include "fd_watcher.hpp"

#include "report.hpp"

#include <exception>
#include <utility>

namespace asyncio::detail {

int FdWatcher::init(uv_loop_t* uv) noexcept {
  const int rc = uv_poll_init(uv, &poll_, fd_);
  if (rc == 0) bind_handle(reinterpret_cast<uv_handle_t*>(&poll_));
  return rc;
}

void FdWatcher::drop(Side& s) noexcept {
  // A coroutine waiting there would otherwise wait for ever: it is woken,
  // retries its operation and finds out (EAGAIN, then a clear error).
  if (s.waiter && !s.waiter->done()) s.waiter->set_result();
  s.waiter = nullptr;
  s.cb = nullptr;
  s.on = false;
  ++s.gen;
}

int FdWatcher::set(int event, std::function<void()> cb, const Future<>* waiter) {
  Side& s = side(event);
  drop(s);
  ready_ &= ~event;  // CPython cancels the replaced handle
  s.cb = std::move(cb);
  s.waiter = waiter;
  s.on = true;
  const int rc = uv_poll_start(&poll_, mask(), &FdWatcher::on_poll);
  if (rc != 0) drop(s);
  return rc;
}

bool FdWatcher::clear(int event) noexcept {
  Side& s = side(event);
  const bool had = s.on;
  drop(s);
  ready_ &= ~event;
  if (mask() != 0) uv_poll_start(&poll_, mask(), &FdWatcher::on_poll);  // narrowing a started poll cannot fail
  return had;
}

void FdWatcher::close() noexcept {
  closed_ = true;
  drop(reader_);
  drop(writer_);
  close_handle();
}

void FdWatcher::on_poll(uv_poll_t* h, int status, int events) noexcept {
  auto* w = static_cast<FdWatcher*>(of(reinterpret_cast<uv_handle_t*>(h)));
  // An error (POLLERR, EBADF) makes both sides ready, as select() reports
  // it: the callback's own call then meets the error.
  w->ready_ |= (status < 0 ? w->mask() : events) & w->mask();
  if (w->ready_) w->post();
}

void FdWatcher::call(Side& s) noexcept {
  const unsigned gen = s.gen;
  std::function<void()> cb = std::move(s.cb);
  try {
    cb();
  } catch (...) {
    report_callback_error(core(), std::current_exception());
  }
  if (s.gen == gen) s.cb = std::move(cb);
}

void FdWatcher::run(bool discard) noexcept {
  const int ready = std::exchange(ready_, 0);
  if (discard || closed_) return;
  // The reader first, then the writer, as CPython's _process_events queues
  // them; a writer removed or replaced by the reader is not called.
  const unsigned wgen = writer_.gen;
  if ((ready & UV_READABLE) && reader_.on) call(reader_);
  if ((ready & UV_WRITABLE) && writer_.on && writer_.gen == wgen && !closed_) call(writer_);
}

}  // namespace asyncio::detail
