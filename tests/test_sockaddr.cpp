// asyncio-cpp: SPDX-License-Identifier: MIT
// The library's own IPv4 text conversions (src/trsock.cpp) against the C
// library's: to_socket_address() must write what inet_ntop() writes, and
// numeric_address() must accept exactly what inet_pton() accepts.
#include "detail/sockaddr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

using asyncio::detail::numeric_address;
using asyncio::detail::to_socket_address;

namespace {

std::string ntop(std::uint32_t addr) {
  in_addr a{};
  a.s_addr = addr;
  char text[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, text, sizeof text);
}

std::string ours(std::uint32_t addr) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = addr;
  in.sin_port = htons(9);
  return to_socket_address(reinterpret_cast<sockaddr*>(&in), sizeof in).host;
}

/// What numeric_address(AF_INET) and inet_pton say of `s`: both false, or
/// both true with the same address.
void same_parse(const std::string& s) {
  in_addr expect{};
  const bool c_ok = inet_pton(AF_INET, s.c_str(), &expect) == 1;
  sockaddr_storage ss{};
  socklen_t len = 0;
  const bool ok = numeric_address(s, 80, AF_INET, ss, len);
  ASSERT_EQ(ok, c_ok) << "'" << s << "'";
  if (!ok) return;
  const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
  EXPECT_EQ(in->sin_addr.s_addr, expect.s_addr) << s;
  EXPECT_EQ(ntohs(in->sin_port), 80) << s;
  EXPECT_EQ(len, sizeof(sockaddr_in));
}

}  // namespace

TEST(Sockaddr, Ipv4TextIsInetNtops) {
  for (std::uint32_t v : {0u, 1u, 0xffffffffu, 0x7f000001u, 0x0a00000au, 0x64646464u, 0x09090909u})
    EXPECT_EQ(ours(htonl(v)), ntop(htonl(v)));
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const std::uint32_t v = rng();
    ASSERT_EQ(ours(v), ntop(v)) << v;
  }
}

TEST(Sockaddr, Ipv4ParseIsInetPtons) {
  for (const char* s : {"1.2.3.4", "0.0.0.0", "255.255.255.255", "127.0.0.1", "01.2.3.4", "1.2.3.04", "00.0.0.0",
                        "1.2.3", "1.2.3.4.", ".1.2.3.4", "1..2.3", "256.1.1.1", "1.2.3.256", "1234.1.1.1", "1.2.3.4 ",
                        " 1.2.3.4", "+1.2.3.4", "-1.2.3.4", "", ".", "1.2.3.4.5", "0x1.2.3.4", "1.2.3.4/8", "::1",
                        "999.999.999.999", "1.2.3.0255", "10.0.0.1a"})
    same_parse(s);
  // Random strings over the alphabet that matters.
  std::mt19937 rng(11);
  const char alphabet[] = "0123456789.";
  for (int i = 0; i < 200000; ++i) {
    std::string s(rng() % 18, ' ');
    for (char& c : s) c = alphabet[rng() % (sizeof alphabet - 1)];
    same_parse(s);
    if (::testing::Test::HasFatalFailure()) return;
  }
}
