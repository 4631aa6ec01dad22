// expect: catching ExceptionGroup with except\* is not allowed
// ≙ test_except_star.py test_except_star_ExceptionGroup_is_runtime_error_single:
// CPython raises TypeError at run time; here it does not compile.
#include <asyncio/exceptions.hpp>

void handle(const std::exception_ptr& e) {
  asyncio::except_star(e, asyncio::catching<asyncio::ExceptionGroup>([](const asyncio::ExceptionGroup&) {}));
}
