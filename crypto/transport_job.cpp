#include "crypto/transport_job.h"

#include "crypto/transport.h"

namespace sluice::crypto {

void run_transport_job(TransportJob& job) {
  if (job.kind == TransportJob::Kind::Seal) {
    seal_transport(job.key, job.receiver_index, job.counter, job.message, job.plaintext_len,
                   job.padded_len);
    job.ok = true;
    return;
  }
  auto plaintext = open_transport(job.key, job.counter, job.message, job.message_len);
  job.ok = plaintext.has_value();
  job.plaintext_len = plaintext.value_or(0);
}

}  // namespace sluice::crypto
