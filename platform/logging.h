// Logging set-up for the sluice command: one spdlog logger, installed as the default so every
// layer's spdlog calls go through it, writing to stderr with the interface name in each line.
//
// Levels: per-packet events only at trace, per-handshake and configuration detail at debug,
// start/stop/listen-port/stop-reason at info.
#pragma once

#include <optional>
#include <string_view>

#include <spdlog/common.h>

namespace sluice::platform {

// Parses a `--log-level` argument: trace, debug, info, warn (or warning), error, off.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);

// Maps the LOG_LEVEL environment variable as wireguard-go reads it: "verbose" and "debug" give
// debug, "error" gives error, "silent" gives off. Our own level names (above) are accepted too.
// Anything else, or an empty/absent value, gives nullopt.
std::optional<spdlog::level::level_enum> log_level_from_env(const char* value);

// The level in force: the command line wins over LOG_LEVEL, and info is the default.
spdlog::level::level_enum choose_log_level(std::optional<spdlog::level::level_enum> command_line,
                                           const char* env_value);

// Installs the default logger: stderr (coloured when it is a terminal), lines prefixed with
// "(INTERFACE)" as wireguard-go does. May be called again, e.g. once the name is known.
void setup_logging(std::string_view interface_name, spdlog::level::level_enum level);

}  // namespace sluice::platform
