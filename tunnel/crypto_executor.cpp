#include "tunnel/crypto_executor.h"

namespace sluice {

void run_inline(std::span<crypto::TransportJob> jobs) {
  for (crypto::TransportJob& job : jobs) crypto::run_transport_job(job);
}

}  // namespace sluice
