#include "platform/logging.h"

#include <memory>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace sluice::platform {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  using spdlog::level::level_enum;
  if (text == "trace") return level_enum::trace;
  if (text == "debug") return level_enum::debug;
  if (text == "info") return level_enum::info;
  if (text == "warn" || text == "warning") return level_enum::warn;
  if (text == "error") return level_enum::err;
  if (text == "off") return level_enum::off;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> log_level_from_env(const char* value) {
  if (value == nullptr) return std::nullopt;
  std::string_view text(value);
  // wireguard-go's names (device.LogLevelVerbose/Error/Silent).
  if (text == "verbose" || text == "debug") return spdlog::level::debug;
  if (text == "error") return spdlog::level::err;
  if (text == "silent") return spdlog::level::off;
  return parse_log_level(text);
}

spdlog::level::level_enum choose_log_level(std::optional<spdlog::level::level_enum> command_line,
                                           const char* env_value) {
  if (command_line) return *command_line;
  if (auto from_env = log_level_from_env(env_value)) return *from_env;
  return spdlog::level::info;
}

void setup_logging(std::string_view interface_name, spdlog::level::level_enum level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("sluice", std::move(sink));
  // '%' in the name would be read as a pattern flag.
  std::string name;
  for (char c : interface_name) {
    if (c == '%') name += '%';
    name += c;
  }
  std::string pattern = "%Y-%m-%d %H:%M:%S.%e %^%l%$: ";
  if (!name.empty()) pattern += "(" + name + ") ";
  pattern += "%v";
  logger->set_pattern(pattern);
  logger->set_level(level);
  // Warnings and errors reach the terminal at once even if the process dies right after.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  // Loggers other layers may have registered by name follow the same level and format.
  spdlog::set_level(level);
  spdlog::set_pattern(pattern);
}

}  // namespace sluice::platform
