// Routes the library's spdlog output to the embedding host's log callback (sluice.h's
// sluice_set_log_callback). The core logs through spdlog's default logger, so the callback is
// process-wide; each tunnel's lines carry its own prefix (DeviceOptions::log_prefix).
#pragma once

#include "include/sluice.h"

namespace sluice::platform {

// Replaces spdlog's default logger (which would write to stdout, not the host's log) with one
// that forwards to the host callback, once per process. Until a callback is set, messages are
// discarded. Thread-safe.
void install_embed_logger();

// Sets the callback (NULL discards) and the least severe level it receives; false, changing
// nothing, for an out-of-range level. Thread-safe.
bool set_embed_log_callback(sluice_log_fn fn, void* context, int min_level);

}  // namespace sluice::platform
