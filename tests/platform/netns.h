// Runs a test body in a forked child inside a fresh network namespace, so TUN devices,
// addresses and routes made by the test never touch the host. The child reports failures as
// text through a pipe, because Catch2 assertions cannot cross a fork.
#pragma once

#include <functional>
#include <string>

namespace sluice::test {

// "" when `body` returned "" in the child; otherwise its failure text, or why the child could
// not run. A result starting with "skip:" means namespaces are unavailable here.
std::string run_in_private_netns(const std::function<std::string()>& body);

}  // namespace sluice::test
