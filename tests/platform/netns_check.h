// Checks for test bodies that run_in_private_netns runs in a forked child: Catch2 assertions
// cannot cross the fork, so EXPECT returns "line N: condition" from the body, and run_netns
// turns the text the child sent back into one Catch2 check (or a warning when namespaces are
// not available here).
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "netns.h"

inline std::string netns_failure(int line, const std::string& what) {
  return "line " + std::to_string(line) + ": " + what;
}

#define EXPECT(cond)                                    \
  do {                                                  \
    if (!(cond)) return netns_failure(__LINE__, #cond); \
  } while (0)
#define EXPECT_OK(expr)                                                                   \
  do {                                                                                    \
    auto&& r_ = (expr);                                                                   \
    if (!r_.has_value()) return netns_failure(__LINE__, #expr ": " + r_.error().message); \
  } while (0)

inline void run_netns(const std::function<std::string()>& body) {
  const std::string failure = sluice::test::run_in_private_netns(body);
  if (failure.rfind("skip:", 0) == 0) {
    WARN(failure);
    return;
  }
  INFO(failure);
  CHECK(failure.empty());
}
