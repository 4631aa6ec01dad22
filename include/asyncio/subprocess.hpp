// asyncio-cpp: SPDX-License-Identifier: MIT
// Subprocesses: create_subprocess_exec / create_subprocess_shell and the
// Process they return, with its pipes as streams.
// ≙ Lib/asyncio/subprocess.py (and base_subprocess.py / unix_events.py
// for the transport, here over libuv's uv_spawn)
#ifndef ASYNCIO_SUBPROCESS_HPP
#define ASYNCIO_SUBPROCESS_HPP

#include <asyncio/coroutine.hpp>
#include <asyncio/streams.hpp>
#include <asyncio/transports.hpp>

#include <concepts>
#include <functional>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace asyncio {

/// The stream arguments of create_subprocess_*() (≙ subprocess.PIPE,
/// STDOUT, DEVNULL, with CPython's values). Leaving an option empty
/// (`std::nullopt`, Python's `None`) inherits the parent's stream; a value
/// >= 0 is a file descriptor the child gets (the caller keeps it open).
inline constexpr int PIPE = -1;
/// For `stderr_` only: the child's stderr goes where its stdout goes.
inline constexpr int STDOUT = -2;
/// The child's stream is /dev/null.
inline constexpr int DEVNULL = -3;

/// A list of strings passed by view: a braced list of literals, or any
/// contiguous range of std::string or std::string_view (a std::vector, a
/// std::array). Read only while create_subprocess_*() is called: nothing
/// is kept. Trivially destructible on purpose (see base_events.hpp).
///
/// GCC 12 cannot compile a braced list written inside a `co_await`
/// expression ("array used as initializer"); with that compiler name the
/// list first or use a `std::array<std::string_view, N>`.
class StringList {
 public:
  /// No list (for `env`: inherit the parent's environment).
  constexpr StringList() noexcept = default;
  constexpr StringList(std::initializer_list<std::string_view> list) noexcept
      : views_(list.begin(), list.size()), given_(true) {}
  template <std::ranges::contiguous_range R>
    requires std::same_as<std::ranges::range_value_t<R>, std::string_view>
  constexpr StringList(const R& list) noexcept : views_(std::ranges::data(list), std::ranges::size(list)), given_(true) {}
  template <std::ranges::contiguous_range R>
    requires std::same_as<std::ranges::range_value_t<R>, std::string>
  constexpr StringList(const R& list) noexcept
      : strings_(std::ranges::data(list), std::ranges::size(list)), given_(true) {}

  /// True unless default-constructed (an empty range is given).
  constexpr bool given() const noexcept { return given_; }
  /// An owned copy.
  std::vector<std::string> to_vector() const { return views_.empty() ? to(strings_) : to(views_); }

 private:
  template <class S>
  static std::vector<std::string> to(std::span<const S> list) {
    return std::vector<std::string>(list.begin(), list.end());
  }

  std::span<const std::string_view> views_;
  std::span<const std::string> strings_;
  bool given_ = false;
};

/// Keyword arguments of create_subprocess_exec() and _shell(), for
/// designated initializers: `{.stdin_ = PIPE, .stdout_ = PIPE}`.
/// (`stdin`, `stdout` and `stderr` are C macros, hence the underscores.)
struct SubprocessOptions {
  std::optional<int> stdin_ = std::nullopt;   ///< PIPE, DEVNULL, an fd, or empty to inherit
  std::optional<int> stdout_ = std::nullopt;  ///< PIPE, DEVNULL, an fd, or empty to inherit
  std::optional<int> stderr_ = std::nullopt;  ///< PIPE, STDOUT, DEVNULL, an fd, or empty to inherit
  /// The limit of the StreamReaders of stdout_ and stderr_ (≙ `limit`).
  std::ptrdiff_t limit = detail::default_stream_limit;
  /// The child's working directory; empty: the parent's.
  std::string_view cwd = {};
  /// The child's whole environment as "NAME=value" entries (≙ `env`, a
  /// dict in Python); not given: the parent's. An empty range gives an
  /// empty environment.
  StringList env = {};
  /// Runs the child in a new session (setsid(), ≙ start_new_session).
  bool start_new_session = false;
  /// The capacity in bytes of each pipe made for PIPE (≙ Popen's
  /// `pipesize`, F_SETPIPE_SZ; a size the system refuses throws
  /// std::system_error); <= 0: the system's default (64 KiB on Linux). A
  /// larger pipe moves bulk data with fewer switches between the
  /// processes, and counts against the user's pipe-memory limits.
  int pipesize = -1;
};

namespace detail {
class ProcessState;
}

/// A child process (≙ asyncio.subprocess.Process). A copyable handle: copies
/// refer to the same process. Used on its loop's thread only.
///
/// The child is not killed when the last handle goes away: the loop keeps
/// watching it and collects its exit status, so it never becomes a zombie.
/// A child still running when its loop closes is killed (SIGKILL) and
/// collected then; a handle kept beyond reads returncode() -9.
class Process {
 public:
  /// The pipe to the child's stdin when created with `stdin_ = PIPE`.
  /// Write, then `co_await drain()`; close() (or write_eof(), the same on a
  /// pipe) gives the child EOF. A child that has gone makes the next write
  /// fail: drain() throws std::system_error (broken pipe / connection reset).
  std::optional<StreamWriter> stdin_;
  /// The child's stdout when created with `stdout_ = PIPE`.
  std::optional<StreamReader> stdout_;
  /// The child's stderr when created with `stderr_ = PIPE`.
  std::optional<StreamReader> stderr_;

  /// Made by create_subprocess_exec() / _shell().
  explicit Process(std::shared_ptr<detail::ProcessState> state);
  /// An empty handle, to be assigned later: every member throws
  /// RuntimeError("Process object is not initialized.") until then.
  Process() noexcept = default;
  /// False while empty.
  explicit operator bool() const noexcept { return static_cast<bool>(s_); }

  /// The child's process id.
  int pid() const;
  /// Empty while the child runs (≙ None); its exit status once the loop
  /// has seen it exit, or minus the signal number that killed it (-9 after
  /// kill()).
  std::optional<int> returncode() const;
  /// Waits for the child to exit and returns returncode(). Any number of
  /// coroutines may wait, at any time. Cancelling a wait does not touch the
  /// child. Unlike CPython 3.13 (and like uvloop and CPython's gh-119710),
  /// it does not also wait for the pipes to be closed: a grandchild that
  /// keeps stdout open cannot hold it up.
  ///
  /// Deadlock rule (as CPython): with `stdout_`/`stderr_` = PIPE, a child
  /// that fills the pipe blocks until the parent reads; waiting without
  /// reading then never ends. Use communicate().
  Coroutine<int> wait() const;
  /// Sends `input` to stdin (if it is a pipe) and closes it, reads stdout
  /// and stderr (those that are pipes) to EOF concurrently, then waits for
  /// the exit: returns `{stdout, stderr}`, each empty unless a pipe. A
  /// child that exits without reading its input does not make it fail
  /// (BrokenPipe / ConnectionReset while feeding stdin are ignored). A
  /// read error (RuntimeError if another coroutine is reading the same
  /// stream) is thrown. `input` is copied before the call returns.
  Coroutine<std::pair<std::optional<std::string>, std::optional<std::string>>> communicate(
      std::string_view input = {}) const;
  /// Sends signal `sig` to the child. Throws
  /// std::system_error(std::errc::no_such_process) (≙ ProcessLookupError)
  /// once its exit has been collected.
  void send_signal(int sig) const;
  /// send_signal(SIGTERM).
  void terminate() const;
  /// send_signal(SIGKILL).
  void kill() const;

  /// The transport of pipe `fd` (0, 1 or 2), null if that stream is not a
  /// pipe (≙ SubprocessTransport.get_pipe_transport).
  std::shared_ptr<Transport> get_pipe_transport(int fd) const;

 private:
  const std::shared_ptr<detail::ProcessState>& state() const;
  std::shared_ptr<detail::ProcessState> s_;
};

namespace detail {
/// What create_subprocess_*() copies out of its arguments.
struct SpawnRequest {
  std::string file;
  std::vector<std::string> args;  // args[0] is the program
  std::optional<int> stdio[3];
  std::ptrdiff_t limit;
  std::string cwd;
  std::optional<std::vector<std::string>> env;
  bool start_new_session;
  int pipesize;
};
SpawnRequest spawn_request(std::string file, std::vector<std::string> args, const SubprocessOptions& options);
Coroutine<Process> create_subprocess(SpawnRequest request);
}  // namespace detail

namespace detail {
template <class A>
concept ExecArgument = std::is_convertible_v<const A&, std::string_view>;
template <class A>
concept ExecArgumentOrOptions = ExecArgument<std::remove_cvref_t<A>> ||
                                std::is_same_v<std::remove_cvref_t<A>, SubprocessOptions>;

template <class A>
void add_exec_argument(std::vector<std::string>& argv, const SubprocessOptions*& options, const A& a) {
  if constexpr (std::is_same_v<A, SubprocessOptions>)
    options = &a;
  else
    argv.emplace_back(std::string_view(a));
}

/// The request of `program args... [options]`, Python's `*args` shape;
/// `defaults` when no options are given.
template <class... A>
SpawnRequest exec_request(const SubprocessOptions& defaults, std::string_view program, const A&... args) {
  constexpr std::size_t option_count = (std::size_t{std::is_same_v<A, SubprocessOptions>} + ... + 0);
  if constexpr (sizeof...(A) > 0)
    static_assert(option_count == 0 ||
                      (option_count == 1 && std::is_same_v<std::tuple_element_t<sizeof...(A) - 1, std::tuple<A...>>,
                                                           SubprocessOptions>),
                  "the SubprocessOptions come last, once");
  std::vector<std::string> argv{std::string(program)};
  argv.reserve(sizeof...(A) + 1);
  const SubprocessOptions* options = &defaults;
  (detail::add_exec_argument(argv, options, args), ...);
  return spawn_request(std::string(program), std::move(argv), *options);
}

/// `program` with the list `args`.
inline SpawnRequest list_request(std::string_view program, StringList args, const SubprocessOptions& options) {
  std::vector<std::string> argv = args.to_vector();
  argv.insert(argv.begin(), std::string(program));
  return spawn_request(std::string(program), std::move(argv), options);
}

/// `cmd` through /bin/sh -c.
inline SpawnRequest shell_request(std::string_view cmd, const SubprocessOptions& options) {
  std::vector<std::string> argv{"/bin/sh", "-c", std::string(cmd)};
  return spawn_request("/bin/sh", std::move(argv), options);
}

inline const SubprocessOptions no_options{};
}  // namespace detail

/// Starts `program` with `args` (≙ asyncio.create_subprocess_exec):
/// `auto proc = co_await create_subprocess_exec("sort", args, {.stdin_ =
/// PIPE, .stdout_ = PIPE});`. The program is looked up in PATH (the
/// child's, when `env` is given) unless it contains a slash. As in
/// CPython nothing happens before the coroutine is awaited; the arguments
/// are copied at the call.
///
/// Throws std::system_error: std::errc::no_such_file_or_directory when the
/// program does not exist (≙ FileNotFoundError), EACCES and the like when
/// it cannot be run, EMFILE when out of file descriptors;
/// std::invalid_argument for STDOUT given as stdin_ or stdout_. Cancelled
/// after the child started, the child is killed and collected before the
/// CancelledError propagates.
inline Coroutine<Process> create_subprocess_exec(std::string_view program, StringList args = {},
                                                 const SubprocessOptions& options = {}) {
  return detail::create_subprocess(detail::list_request(program, args, options));
}

/// Python's call shape, `create_subprocess_exec("ls", "-l", dir,
/// SubprocessOptions{.stdout_ = PIPE})`: the arguments as a list of
/// string-likes (Python's `*args`), then the options, if any, last. No
/// braced list sits inside the co_await, which GCC 12 cannot compile.
/// Otherwise as above.
template <class... A>
  requires(sizeof...(A) > 0 && (detail::ExecArgumentOrOptions<A> && ...))
Coroutine<Process> create_subprocess_exec(std::string_view program, const A&... args) {
  return detail::create_subprocess(detail::exec_request(detail::no_options, program, args...));
}

/// Runs `cmd` with /bin/sh -c (≙ asyncio.create_subprocess_shell). A
/// command that does not exist is the shell's failure: the process starts
/// and exits with 127. Otherwise as create_subprocess_exec().
inline Coroutine<Process> create_subprocess_shell(std::string_view cmd, const SubprocessOptions& options = {}) {
  return detail::create_subprocess(detail::shell_request(cmd, options));
}

// ---- the protocol level (≙ loop.subprocess_exec / loop.subprocess_shell) -----

/// What subprocess_exec() / subprocess_shell() take when no options are
/// given: every stream a pipe, CPython's defaults there. (Options given are
/// taken as they are: a stream left out is inherited.)
inline const SubprocessOptions subprocess_pipes{.stdin_ = PIPE, .stdout_ = PIPE, .stderr_ = PIPE};

namespace detail {
using SubprocessResult = std::pair<std::shared_ptr<SubprocessTransport>, std::shared_ptr<SubprocessProtocol>>;
using SubprocessProtocolFactory = std::function<std::shared_ptr<SubprocessProtocol>()>;
Coroutine<SubprocessResult> subprocess(EventLoop& loop, SubprocessProtocolFactory factory, SpawnRequest request);
template <class F>
using subprocess_protocol_t = typename std::invoke_result_t<F&>::element_type;
}  // namespace detail

/// Starts `program` with the list `args` and `factory()` as its protocol
/// (≙ loop.subprocess_exec): returns `(transport, protocol)` once the pipes
/// are connected and connection_made() has run. Spawn errors as
/// create_subprocess_exec()'s. `limit` does not apply (no stream readers).
/// A factory capturing something with a destructor is named first (GCC
/// 12, see create_connection()).
template <class F, class P = detail::subprocess_protocol_t<F>>
  requires std::is_base_of_v<SubprocessProtocol, P>
Coroutine<std::pair<std::shared_ptr<SubprocessTransport>, std::shared_ptr<P>>> subprocess_exec(
    EventLoop& loop, F&& factory, std::string_view program, StringList args = {},
    const SubprocessOptions& options = subprocess_pipes) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(detail::subprocess(loop, detail::SubprocessProtocolFactory(std::forward<F>(factory)),
                                                     detail::list_request(program, args, options)));
}

/// Python's call shape: `subprocess_exec(loop, factory, "ls", "-l", dir,
/// SubprocessOptions{...})`, the options (if any) last.
template <class F, class... A>
  requires(sizeof...(A) > 0 && std::is_base_of_v<SubprocessProtocol, detail::subprocess_protocol_t<F>> &&
           (detail::ExecArgumentOrOptions<A> && ...))
Coroutine<std::pair<std::shared_ptr<SubprocessTransport>, std::shared_ptr<detail::subprocess_protocol_t<F>>>>
subprocess_exec(EventLoop& loop, F&& factory, std::string_view program, const A&... args) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<detail::subprocess_protocol_t<F>>(
      detail::subprocess(loop, detail::SubprocessProtocolFactory(std::forward<F>(factory)),
                         detail::exec_request(subprocess_pipes, program, args...)));
}

/// Runs `cmd` with /bin/sh -c and `factory()` as its protocol (≙
/// loop.subprocess_shell). Otherwise as subprocess_exec().
template <class F, class P = detail::subprocess_protocol_t<F>>
  requires std::is_base_of_v<SubprocessProtocol, P>
Coroutine<std::pair<std::shared_ptr<SubprocessTransport>, std::shared_ptr<P>>> subprocess_shell(
    EventLoop& loop, F&& factory, std::string_view cmd, const SubprocessOptions& options = subprocess_pipes) {
  ASYNCIO_GCC12_CALLABLE_CHECK(F);
  return detail::cast_protocol<P>(detail::subprocess(loop, detail::SubprocessProtocolFactory(std::forward<F>(factory)),
                                                     detail::shell_request(cmd, options)));
}

/// Python spells these `asyncio.subprocess.PIPE`, `asyncio.subprocess.Process`.
namespace subprocess {
using asyncio::DEVNULL;
using asyncio::PIPE;
using asyncio::Process;
using asyncio::STDOUT;
}  // namespace subprocess

}  // namespace asyncio

#endif  // ASYNCIO_SUBPROCESS_HPP
